"""What goes out: tables, explanations, letters, reports."""
