"""A finding of the publish gate: where, which check, about what, and what is wrong."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Location


@dataclass(frozen=True)
class Finding:
    location: Location
    code: str
    subject: str
    message: str

    def ignored_by(self, ignore: tuple | list) -> bool:
        """Whether a rule file's ``lint: {ignore: [...]}`` names this finding's check, or the check and subject."""
        return self.code in ignore or f"{self.code}:{self.subject}" in ignore

    def __str__(self) -> str:
        return f"{self.location}: {self.code}: {self.message}"
