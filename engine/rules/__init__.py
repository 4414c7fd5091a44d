"""What comes in: rule files (load, validate, the language, the checker, compile, the generated Python) and facts (files and workbooks)."""
