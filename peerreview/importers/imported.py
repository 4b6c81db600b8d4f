"""What an importer returns: a data set in the exchange format (:class:`ImportedSet`),
and the check every importer makes of the folder it reads (:func:`require_dir`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.output import write_files
from peerreview.records.exchange import (
    Item,
    Judgment,
    Submission,
    dumps_jsonl,
    judgment_to_dict,
)


@dataclass(slots=True)
class ImportedSet:
    """A data set in the exchange format, with what the import had to decide."""

    items: list[Item]
    submissions: list[Submission]
    judgments: list[Judgment]
    gold: list[Judgment]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # shape problems (importers/shape.py)

    def abstentions(self) -> Counter[str]:
        """Unreadable reviewer answers (kept as abstentions), per reviewer."""
        return Counter(j.reviewer for j in self.judgments if _abstained(j))

    def files(self) -> dict[str, bytes]:
        """The four exchange files, by name."""
        def item_dict(i: Item) -> dict[str, Any]:
            out = asdict(i)
            if out["reference"] is None:
                del out["reference"]
            return out

        files = {
            "items.jsonl": dumps_jsonl([item_dict(i) for i in self.items]),
            "submissions.jsonl": dumps_jsonl([asdict(s) for s in self.submissions]),
        }
        if self.judgments:  # outputs alone have no judgments or gold
            files["judgments.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in self.judgments])
        if self.gold:
            files["gold.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in self.gold])
        return files

    def write(self, out_dir: str | Path) -> None:
        """Write the exchange files into ``out_dir``, all or nothing."""
        write_files(out_dir, self.files())


def _abstained(j: Judgment) -> bool:
    return (j.winner if hasattr(j, "winner") else j.score) is None


def require_dir(path: Path, what: str) -> None:
    """Fail clearly when a data set folder is not where it should be."""
    if not path.is_dir():
        raise InputError(f"not a folder; expected the {what}", path)
