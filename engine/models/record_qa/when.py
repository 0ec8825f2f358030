"""The time a question asks about: "in June 2024", "on 2024-06-10", "in the last 5 years", "since March 2023",
"before 2025", "between 2023 and 2024", "last fall", "this season".

A small parser of these forms (no date library): absolute periods are dates; relative ones ("the last 5 years",
"last fall") are resolved against the question's as-of date by ``resolve``. A phrase that looks like a time but is
not one of these forms ("3 months ago", "around Easter") is returned as *unread*, so the answer can say that it
was not applied: a time asked about is never dropped silently.
"""
from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {name: i for i, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec")), start=1) for name in names}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18, "twenty": 20, "thirty": 30}
# Meteorological seasons (northern hemisphere): (first month, last month); winter runs into the next year.
SEASONS = {"spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11), "winter": (12, 2)}

_MONTH = r"(?P<{p}month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<{p}year>(?:19|20)\d{{2}})"
_ISO = r"(?P<{p}iso>(?:19|20)\d{{2}}-\d{{1,2}}-\d{{1,2}})"
_US = r"(?P<{p}us>\d{{1,2}}/\d{{1,2}}/(?:19|20)\d{{2}})"
_MONTH_NUM = r"(?P<{p}mnum>\d{{1,2}}/(?:19|20)\d{{2}})"


def _point(p: str) -> str:
    """A date, a month or a year, with named groups prefixed ``p``."""
    month_year = (_MONTH + r"(?:\s+(?P<{p}day>\d{{1,2}})(?:st|nd|rd|th)?)?,?\s+(?:of\s+)?"
                  + _YEAR.replace("year>", "myear>")).format(p=p)
    return "(?:" + "|".join((_ISO.format(p=p), _US.format(p=p), _MONTH_NUM.format(p=p), month_year,
                             _YEAR.format(p=p))) + ")"


_BETWEEN = re.compile(r"\b(?:between|from)\s+" + _point("a") + r"\s+(?:and|to|until|through)\s+" + _point("b") + r"\b",
                      re.IGNORECASE)
_BOUND = re.compile(r"\b(?P<word>since|after|before|until|till|prior\s+to|by)\s+" + _point("a") + r"\b",
                    re.IGNORECASE)
_AT = re.compile(r"\b(?:(?P<word>in|on|during|of|for|at|from)\s+)?" + _point("a") + r"\b", re.IGNORECASE)
_RELATIVE = re.compile(r"\b(?:in|over|during|within|for)?\s*(?:the\s+)?(?:last|past|previous|prior)\s+"
                       r"(?P<n>\d+|" + "|".join(NUMBERS) + r")?\s*(?P<unit>day|week|month|year)s?\b",
                       re.IGNORECASE)
_SEASON = re.compile(r"\b(?P<which>last|this|past)\s+(?P<season>" + "|".join(SEASONS) + r")\b", re.IGNORECASE)
# What still looks like a time after the forms above were read: it is reported as not understood.
_TIME_LIKE = re.compile(
    r"\b(?:\d+\s+(?:day|week|month|year)s?\s+ago|ago|since|before|after|between|"
    + "|".join(m for m in MONTHS if len(m) > 3 and m != "may") + r"|(?:19|20)\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|"
    r"(?:last|past|previous)\s+(?:few|several|couple)|yesterday|"
    r"spring|summer|autumn|winter|christmas|easter)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TimeAsked:
    """An absolute period (``start``/``end``, either may be open), or a relative one (``days`` before the as-of
    date, or a ``season`` such as "last fall"); ``words`` say it as the answer should ("in June 2024")."""

    words: str
    start: date | None = None
    end: date | None = None
    days: int | None = None
    back: tuple[int, str] | None = None  # (5, "year"): the last five years, counted on the calendar
    season: tuple[str, str] | None = None  # ("last" | "this", "fall")
    named: str | None = None  # "season" (of a vaccine) | "year_to_date"


@dataclass(frozen=True)
class Period:
    start: date | None
    end: date | None
    words: str  # " in June 2024", " since 2024-08-01 (start of this season)"

    def holds(self, when) -> bool:
        from engine.models.record_qa.matching import day

        d = day(when)
        if d is None:
            return self.start is None and self.end is None
        return (self.start is None or d >= self.start) and (self.end is None or d <= self.end)


WHOLE_RECORD = Period(None, None, "")


def _span(m: re.Match, p: str) -> tuple[date, date, str] | None:
    """The first and last day of the date, month or year matched with group prefix ``p``, and how to say it."""
    g = m.groupdict()
    try:
        if g.get(f"{p}iso"):
            y, mo, d = (int(x) for x in g[f"{p}iso"].split("-"))
            day_ = date(y, mo, d)
            return day_, day_, f"on {day_.isoformat()}"
        if g.get(f"{p}us"):
            mo, d, y = (int(x) for x in g[f"{p}us"].split("/"))
            day_ = date(y, mo, d)
            return day_, day_, f"on {day_.isoformat()}"
        if g.get(f"{p}mnum"):
            mo, y = (int(x) for x in g[f"{p}mnum"].split("/"))
            first = date(y, mo, 1)
            return first, date(y, mo, monthrange(y, mo)[1]), f"in {first.strftime('%B %Y')}"
        if g.get(f"{p}month"):
            y, mo = int(g[f"{p}myear"]), MONTHS[g[f"{p}month"].lower()]
            if g.get(f"{p}day"):
                day_ = date(y, mo, int(g[f"{p}day"]))
                return day_, day_, f"on {day_.isoformat()}"
            first = date(y, mo, 1)
            return first, date(y, mo, monthrange(y, mo)[1]), f"in {first.strftime('%B %Y')}"
        if g.get(f"{p}year"):
            y = int(g[f"{p}year"])
            return date(y, 1, 1), date(y, 12, 31), f"in {y}"
    except ValueError:  # 2024-02-31, 13/2024: not a date
        return None
    return None


def parse_time(question: str, named: dict[tuple[str, ...], str] | None = None) -> tuple[TimeAsked | None, str | None]:
    """(the time asked about, a time-like phrase that could not be read); ``named``: the vocabulary's named
    windows ("this season" -> "season", "past year" -> "365")."""
    text = question
    found: TimeAsked | None = None
    m = _BETWEEN.search(text)
    if m and (a := _span(m, "a")) and (b := _span(m, "b")):
        found = TimeAsked(f"between {a[0].isoformat()} and {b[1].isoformat()}", a[0], b[1])
    if found is None and (m := _BOUND.search(text)) and (a := _span(m, "a")):
        word = m.group("word").lower()
        if word == "since":
            found = TimeAsked(f"since {a[0].isoformat()}", a[0], None)
        elif word == "after":
            found = TimeAsked(f"after {a[1].isoformat()}", a[1] + timedelta(days=1), None)
        elif word in ("until", "till", "by"):
            found = TimeAsked(f"until {a[1].isoformat()}", None, a[1])
        else:  # before, prior to
            found = TimeAsked(f"before {a[0].isoformat()}", None, a[0] - timedelta(days=1))
    if found is None and (m := _RELATIVE.search(text)):
        n = m.group("n")
        count = (int(n) if n.isdigit() else NUMBERS[n.lower()]) if n else 1
        unit = m.group("unit").lower()
        found = TimeAsked(f"in the last {count} {unit}s" if count != 1 else f"in the last {unit}", back=(count, unit))
    if found is None and (m := _SEASON.search(text)):
        which = "this" if m.group("which").lower() == "this" else "last"
        found = TimeAsked(f"{which} {m.group('season').lower()}", season=(which, m.group("season").lower()))
    if found is None and (m := _AT.search(text)) and (a := _span(m, "a")):
        found = TimeAsked(a[2], a[0], a[1])
    if m is not None and found is not None:
        text = text[:m.start()] + " " + text[m.end():]
    if found is None and named:
        from engine.models.record_qa.vocabulary import tokens

        words = tokens(question)
        for key, value in sorted(named.items(), key=lambda kv: -len(kv[0])):
            n = len(key)
            if any(words[i:i + n] == key for i in range(len(words) - n + 1)):
                said = " ".join(key)
                if value.isdigit():
                    found = TimeAsked(said, days=int(value))
                else:
                    found = TimeAsked(said, named=value)
                text = re.sub(r"\b" + r"\W+".join(map(re.escape, key)) + r"\w*", " ", text, flags=re.IGNORECASE)
                break
    unread = _TIME_LIKE.search(text)
    return found, (unread.group(0) if unread else None)


def resolve(asked: TimeAsked | None, as_of: date, season_start: str | None = None) -> Period:
    """The period of dates the question asks about, on the as-of date."""
    if asked is None:
        return WHOLE_RECORD
    if asked.back is not None:
        start = _back(as_of, *asked.back)
        return Period(start, None, f" {asked.words} (since {start.isoformat()})")
    if asked.days is not None:
        start = as_of - timedelta(days=asked.days)
        return Period(start, None, f" {asked.words} (since {start.isoformat()})")
    if asked.named == "season":
        month, dom = (int(x) for x in (season_start or "08-01").split("-"))
        start = date(as_of.year, month, dom)
        start = start if start <= as_of else date(as_of.year - 1, month, dom)
        return Period(start, None, f" since {start.isoformat()} (start of this season)")
    if asked.named == "year_to_date":
        return Period(date(as_of.year, 1, 1), None, f" this year (since {as_of.year}-01-01)")
    if asked.season is not None:
        start, end = _season(*asked.season, as_of)
        return Period(start, end, f" {asked.words} ({start.isoformat()} to {end.isoformat()})")
    return Period(asked.start, asked.end, f" {asked.words}")


def _season(which: str, name: str, as_of: date) -> tuple[date, date]:
    """"last fall": the latest fall that ended before the as-of date; "this fall": the latest that has begun."""
    first, last = SEASONS[name]
    for start_year in range(as_of.year, as_of.year - 3, -1):
        start = date(start_year, first, 1)
        end_year = start_year + (1 if first > last else 0)
        end = date(end_year, last, monthrange(end_year, last)[1])
        if (which == "this" and start <= as_of) or (which == "last" and end < as_of):
            return start, end
    raise AssertionError("unreachable: a season ends within three years")


def _back(as_of: date, count: int, unit: str) -> date:
    """The date ``count`` days, weeks, months or years before ``as_of``, on the calendar (2025-06-01 less two years
    is 2023-06-01; a day that does not exist in the month is the month's last day)."""
    if unit in ("day", "week"):
        return as_of - timedelta(days=count * (7 if unit == "week" else 1))
    months = as_of.year * 12 + as_of.month - 1 - count * (12 if unit == "year" else 1)
    year, month = divmod(months, 12)
    return date(year, month + 1, min(as_of.day, monthrange(year, month + 1)[1]))
