"""The shape of every synced record, checked strictly wherever a record enters the database.

The same checks serve records made on this installation and records read from a bundle, so a
bundle can never carry what the app itself would refuse. Checks are plain Python (no schema
library) because a merge validates hundreds of thousands of records.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

LANGS = ("ar", "ckb", "ku", "en")
PREFER_NOT = "prefer_not_to_say"

CONSULTATION_KINDS = (
    "town_hall",
    "lpc_meeting",
    "consultation_gathering",
    "dialogue_session",
    "focus_group",
    "training",
    "survey",
)
CONSULTATION_STATUSES = ("draft", "open", "closed")
QUESTION_TYPES = ("free_text", "single_choice", "multiple_choice", "rating", "yes_no", "ranking")
CHANNELS = ("kiosk", "own_device", "spoken", "paper")
# How consent was given. A participant at the kiosk or on a phone consents on screen; for a
# contribution typed by a facilitator, consent was said aloud, given in writing, or not asked
# (saved with ``consent: false``). Submissions made before this field existed have none.
SCREEN_CHANNELS = ("kiosk", "own_device")
CONSENT_METHODS = ("on_screen", "spoken", "written", "not_asked")
TYPED_CONSENT_METHODS = ("spoken", "written", "not_asked")
GENDERS = ("woman", "man", PREFER_NOT)
AGE_BANDS = ("under_18", "18_29", "30_44", "45_59", "60_plus", PREFER_NOT)
PRIORITIES = ("low", "medium", "high")
ACTION_STATUSES = ("proposed", "agreed", "in_progress", "done", "dropped")

REVIEW_STATES = ("received", "approved", "has_issues", "excluded")
EXCLUSION_REASONS = ("duplicate", "off_topic", "test_entry", "withdrawn_consent", "other")
CODE_STATUSES = ("active", "retired")

# Editable kinds are kept as versions; submissions are immutable. Head office's review
# states, codings and codebook entries are records like the others (they sync upward).
VERSIONED_KINDS = (
    "consultation",
    "question",
    "attendance",
    "action_point",
    "template",
    "code",
    "review",
    "coding",
)
ALL_KINDS = (*VERSIONED_KINDS, "submission")

SHORT, TITLE, LONG, MINUTES = 200, 300, 20_000, 200_000
# The most bytes one record may take as canonical JSON. The largest consultation the rules
# below allow (minutes of 200,000 characters in each of the four languages, at the worst six
# bytes per character once JSON escapes a control character as \u00XX, plus description,
# consent text and lists) is about 6 MB; tests/test_schema.py builds it and checks it fits.
# The bundle's line cap is derived from this, so what the app saves it can also merge.
MAX_RECORD_BYTES = 8_000_000
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_TOKEN = re.compile(r"^[a-z0-9_]{1,40}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$", re.ASCII)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$", re.ASCII)


class RecordInvalid(ValueError):
    """A record does not have the shape its kind requires; the message names the field.

    ``problem`` is a translatable message (lazy), so a coordinator reads it in their language;
    ``path`` names the field in the record's own (language-neutral) field names.
    """

    def __init__(self, path: str, problem: Any) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem

    @property
    def message(self) -> Any:
        """The problem, translatable: ``field: problem``."""
        if not self.path:
            return self.problem
        # Translators: a field of a record, then what is wrong with it.
        return _l("%(field)s: %(problem)s", field=self.path[:120], problem=self.problem)

    def __str__(self) -> str:
        return str(self.message)


Check = Callable[[Any, str], None]


def _fail(path: str, problem: Any) -> RecordInvalid:
    return RecordInvalid(path, problem)


def check_size(kind: str, size: int) -> None:
    """Refuse a record whose canonical JSON is larger than :data:`MAX_RECORD_BYTES`."""
    if size > MAX_RECORD_BYTES:
        raise _fail(
            kind,
            _l(
                "larger than %(megabytes)s MB, the most one record may hold",
                megabytes=MAX_RECORD_BYTES // 1_000_000,
            ),
        )


def text(max_length: int, required: bool = True) -> Check:
    """A string of at most ``max_length`` characters (empty allowed unless required)."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _fail(path, _l("must be text"))
        if len(value) > max_length:
            raise _fail(path, _l("longer than %(max)s characters", max=max_length))
        if required and not value.strip():
            raise _fail(path, _l("must not be empty"))

    return check


def one_of(choices: tuple[str, ...]) -> Check:
    """One of a fixed set of values."""

    def check(value: Any, path: str) -> None:
        if value not in choices:
            raise _fail(path, _l("must be one of %(choices)s", choices=", ".join(choices)))

    return check


def integer(low: int, high: int) -> Check:
    """A whole number (not a boolean) within bounds."""

    def check(value: Any, path: str) -> None:
        if type(value) is not int or not low <= value <= high:
            raise _fail(
                path, _l("must be a whole number from %(low)s to %(high)s", low=low, high=high)
            )

    return check


def boolean(value: Any, path: str) -> None:
    """True or false."""
    if type(value) is not bool:
        raise _fail(path, _l("must be true or false"))


def uuid_text(value: Any, path: str) -> None:
    """A UUID in its canonical lower-case form."""
    if not isinstance(value, str) or not _UUID.match(value):
        raise _fail(path, _l("must be a UUID"))


def iso_date(value: Any, path: str) -> None:
    """A calendar date YYYY-MM-DD."""
    if not isinstance(value, str) or not _DATE.match(value):
        raise _fail(path, _l("must be a date YYYY-MM-DD"))
    try:
        date.fromisoformat(value)
    except ValueError:
        raise _fail(path, _l("must be a real date")) from None


def clock_time(value: Any, path: str) -> None:
    """A time of day HH:MM."""
    if not isinstance(value, str) or not _TIME.match(value):
        raise _fail(path, _l("must be a time HH:MM"))


def timestamp(value: Any, path: str) -> None:
    """A UTC timestamp for display (never used to decide anything)."""
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise _fail(path, _l("must be a UTC time YYYY-MM-DDTHH:MM:SSZ"))


def token(value: Any, path: str) -> None:
    """A short machine name: lower-case letters, digits, underscores."""
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise _fail(path, _l("must be a short name of a-z, 0-9 and _"))


def optional(check: Check) -> Check:
    """``check``, or null."""

    def wrapped(value: Any, path: str) -> None:
        if value is not None:
            check(value, path)

    return wrapped


def list_of(check: Check, max_items: int) -> Check:
    """A list of at most ``max_items`` values, each passing ``check``."""

    def wrapped(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _fail(path, _l("must be a list"))
        if len(value) > max_items:
            raise _fail(path, _l("more than %(max)s items", max=max_items))
        for index, item in enumerate(value):
            check(item, f"{path}[{index}]")

    return wrapped


def multilingual(max_length: int, required: bool = True) -> Check:
    """Text per language: an object whose keys are ar, ckb, ku, en."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _fail(path, _l("must be an object of texts per language"))
        for lang, item in value.items():
            if lang not in LANGS:
                raise _fail(
                    path, _l("unknown language %(language)s", language=repr(str(lang)[:10]))
                )
            text(max_length, required=False)(item, f"{path}.{lang}")
        if required and not any(isinstance(v, str) and v.strip() for v in value.values()):
            raise _fail(path, _l("needs text in at least one language"))

    return check


def obj(fields: Mapping[str, Check], optional_fields: Mapping[str, Check] | None = None) -> Check:
    """An object with exactly these required fields and maybe these optional ones."""
    extra = optional_fields or {}

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _fail(path, _l("must be an object"))
        missing = [name for name in fields if name not in value]
        if missing:
            raise _fail(path, _l("missing %(fields)s", fields=", ".join(missing)))
        for name, item in value.items():
            rule = fields.get(name) or extra.get(name)
            if rule is None:
                raise _fail(path, _l("unexpected field %(field)s", field=repr(str(name)[:40])))
            rule(item, f"{path}.{name}")

    return check


_option = obj({"id": token, "label": multilingual(SHORT)})
_count = obj(
    {"gender": one_of(GENDERS), "age_band": one_of(AGE_BANDS), "count": integer(0, 100_000)},
    {"group": optional(token)},
)
_group_count = obj({"group": token, "count": integer(0, 100_000)})
_note = obj({"on": iso_date, "text": text(LONG)})
_group = obj({"id": token, "label": multilingual(SHORT)})

_COLOUR = re.compile(r"^#[0-9a-f]{6}\Z")


def colour(value: Any, path: str) -> None:
    """A colour #rrggbb in lower case."""
    if not isinstance(value, str) or not _COLOUR.match(value):
        raise _fail(path, _l("must be a colour #rrggbb"))


# The account that made a version, shown beside the installation (never a secret).
_account = obj({"username": text(40), "name": text(80, required=False)})
_common = {"updated_at": timestamp, "updated_by": uuid_text}
BODY_ACCOUNT = _account
_common_optional = {"account": _account}

BODY_CHECKS: dict[str, Check] = {
    "consultation": obj(
        {
            "kind": one_of(CONSULTATION_KINDS),
            "title": multilingual(TITLE),
            "original_language": one_of(LANGS),
            "status": one_of(CONSULTATION_STATUSES),
            "governorate": text(20),
            **_common,
        },
        {
            **_common_optional,
            "description": multilingual(LONG, required=False),
            "programme": text(SHORT, required=False),
            "district": optional(text(60)),
            "place": text(SHORT, required=False),
            "starts_on": optional(iso_date),
            "ends_on": optional(iso_date),
            "start_time": optional(clock_time),
            "end_time": optional(clock_time),
            "facilitators": list_of(text(SHORT), 20),
            "languages": list_of(one_of(LANGS), 4),
            "groups": list_of(_group, 30),
            "consent_text": multilingual(LONG, required=False),
            "consent_method": one_of(TYPED_CONSENT_METHODS),
            "minutes": multilingual(MINUTES, required=False),
        },
    ),
    "question": obj(
        {
            "consultation": uuid_text,
            "position": integer(0, 10_000),
            "type": one_of(QUESTION_TYPES),
            "text": multilingual(LONG),
            "original_language": one_of(LANGS),
            **_common,
        },
        {"options": list_of(_option, 50), "required": boolean, **_common_optional},
    ),
    "attendance": obj(
        {"consultation": uuid_text, "counts": list_of(_count, 500), **_common},
        {"group_counts": list_of(_group_count, 30), **_common_optional},
    ),
    "action_point": obj(
        {
            "consultation": uuid_text,
            "text": multilingual(LONG),
            "original_language": one_of(LANGS),
            "priority": one_of(PRIORITIES),
            "status": one_of(ACTION_STATUSES),
            **_common,
        },
        {
            **_common_optional,
            "responsible": text(SHORT, required=False),
            "due_on": optional(iso_date),
            "position": integer(0, 10_000),
            "notes": list_of(_note, 500),
            "agreed_at": optional(uuid_text),
            "codes": list_of(uuid_text, 50),
            "contributions": list_of(obj({"submission": uuid_text, "question": uuid_text}), 200),
        },
    ),
}


_template_question = obj(
    {
        "type": one_of(QUESTION_TYPES),
        "text": multilingual(LONG),
        "original_language": one_of(LANGS),
    },
    {"options": list_of(_option, 50), "required": boolean},
)
BODY_CHECKS["template"] = obj(
    {
        "name": multilingual(TITLE),
        "original_language": one_of(LANGS),
        "questions": list_of(_template_question, 200),
        **_common,
    },
    {
        **_common_optional,
        "description": multilingual(LONG, required=False),
        "kind": optional(one_of(CONSULTATION_KINDS)),
    },
)

BODY_CHECKS["code"] = obj(
    {
        "name": multilingual(SHORT),
        "original_language": one_of(LANGS),
        "colour": colour,
        "status": one_of(CODE_STATUSES),
        **_common,
    },
    {
        **_common_optional,
        "description": multilingual(LONG, required=False),
        "parent": optional(uuid_text),
        "merged_into": optional(uuid_text),
        "position": integer(0, 10_000),
    },
)
_contribution = {"submission": uuid_text, "question": uuid_text, "consultation": uuid_text}
BODY_CHECKS["review"] = obj(
    {**_contribution, "state": one_of(REVIEW_STATES), **_common},
    {
        **_common_optional,
        "reason": optional(one_of(EXCLUSION_REASONS)),
        "note": text(LONG, required=False),
    },
)
BODY_CHECKS["coding"] = obj(
    {**_contribution, "codes": list_of(uuid_text, 50), **_common},
    {**_common_optional, "note": text(LONG, required=False)},
)


# Review states and codings of one contribution are one record each, whose id every
# installation derives alike: two offices reviewing the same answer edit the same record (and
# conflict, to be resolved), never two records that both count.
CONTRIBUTION_RECORD_NS = uuid.UUID("6f1c3d52-9a4e-4c8b-b7d2-2f0e5a9c1b74")
PER_CONTRIBUTION_KINDS = ("review", "coding")


def contribution_record_id(kind: str, submission: str, question: str) -> str:
    """The id of the ``kind`` record (review or coding) of one answer."""
    return str(uuid.uuid5(CONTRIBUTION_RECORD_NS, f"{kind}:{submission}:{question}"))


def check_record_id(kind: str, record_id: str, body: Mapping[str, Any]) -> None:
    """Refuse a review or coding whose id is not the one its contribution gives."""
    if kind not in PER_CONTRIBUTION_KINDS or "submission" not in body:
        return
    if record_id != contribution_record_id(kind, body["submission"], body["question"]):
        raise _fail(f"{kind}.id", _l("is not the id that this answer's record must have"))


def _answer(value: Any, path: str) -> None:
    """An answer: text, a number, true/false, an option id, or a list of option ids."""
    if isinstance(value, bool) or (type(value) is int and 1 <= value <= 5):
        return
    if isinstance(value, str):
        text(LONG, required=False)(value, path)
        return
    if isinstance(value, list):
        list_of(token, 50)(value, path)
        return
    raise _fail(path, _l("must be text, a rating 1-5, yes/no or a list of options"))


def _answers(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(path, _l("must be an object of answers per question"))
    if len(value) > 200:
        raise _fail(path, _l("more than %(max)s answers", max=200))
    for key, item in value.items():
        uuid_text(key, f"{path}.<question>")
        _answer(item, f"{path}.{key}")


SUBMISSION_CHECK = obj(
    {
        "uuid": uuid_text,
        "consultation": uuid_text,
        "device": uuid_text,
        "created_at": timestamp,
        "language": one_of(LANGS),
        "channel": one_of(CHANNELS),
        "consent": boolean,
        "idempotency_key": text(64),
        "answers": _answers,
    },
    {
        "demographics": obj(
            {},
            {
                "gender": one_of(GENDERS),
                "age_band": one_of(AGE_BANDS),
                "group": token,
            },
        ),
        "consent_method": one_of(CONSENT_METHODS),
    },
)


def check_body(kind: str, body: Any) -> None:
    """Raise RecordInvalid unless ``body`` is a valid body of a ``kind`` version.

    Besides its fields, a body must fit :data:`MAX_RECORD_BYTES` as canonical JSON (the form
    every installation stores and exports), so whatever is saved here can be merged elsewhere.
    """
    try:
        rule = BODY_CHECKS[kind]
    except KeyError:
        raise RecordInvalid("", _l("unknown record kind %(kind)s", kind=repr(kind[:40]))) from None
    rule(body, kind)
    check_size(kind, canonical_size(body))


def canonical_size(value: Any) -> int:
    """Bytes of ``value`` as canonical JSON (sorted keys, no spaces, UTF-8)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return len(text.encode("utf-8"))
    except (UnicodeEncodeError, ValueError):
        raise RecordInvalid("", _l("contains a character that is not valid text")) from None


_SUBMISSION_REQUIRED = frozenset(
    ("uuid", "consultation", "device", "created_at", "language", "channel", "consent")
    + ("idempotency_key", "answers")
)
_SUBMISSION_ALL = _SUBMISSION_REQUIRED | {"demographics", "consent_method"}
_LANG_SET, _CHANNEL_SET = frozenset(LANGS), frozenset(CHANNELS)
_GENDER_SET, _AGE_SET = frozenset(GENDERS), frozenset(AGE_BANDS)
_CONSENT_SET = frozenset(CONSENT_METHODS)


def _member(value: Any, choices: frozenset[str]) -> bool:
    return type(value) is str and value in choices


def _fast_answer(value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        return True
    if kind is int:
        return 1 <= value <= 5
    if kind is str:
        return len(value) <= LONG
    if kind is list:
        return len(value) <= 50 and all(type(v) is str and _TOKEN.match(v) for v in value)
    return False


def is_valid_submission(record: Any, known_ids: set[str] | None = None) -> bool:
    """The same rules as ``SUBMISSION_CHECK``, written out for speed (a merge checks 10^5).

    ``known_ids`` caches UUID strings already seen to be well-formed (question, consultation
    and device ids repeat across thousands of submissions).
    """
    if type(record) is not dict or not _SUBMISSION_REQUIRED <= record.keys() <= _SUBMISSION_ALL:
        return False
    known = known_ids if known_ids is not None else set()
    for name in ("uuid", "consultation", "device"):
        value = record[name]
        if type(value) is not str:
            return False
        if value not in known:
            if not _UUID.match(value):
                return False
            if name != "uuid":
                known.add(value)
    created, key = record["created_at"], record["idempotency_key"]
    if type(created) is not str or not _TIMESTAMP.match(created):
        return False
    if type(key) is not str or len(key) > 64 or not key.strip():
        return False
    if not (_member(record["language"], _LANG_SET) and _member(record["channel"], _CHANNEL_SET)):
        return False
    if type(record["consent"]) is not bool:
        return False
    answers = record["answers"]
    if type(answers) is not dict or len(answers) > 200:
        return False
    for question, answer in answers.items():
        if question not in known:
            if not _UUID.match(question):
                return False
            known.add(question)
        if not _fast_answer(answer):
            return False
    if "demographics" in record:
        people = record["demographics"]
        if type(people) is not dict or not people.keys() <= {"gender", "age_band", "group"}:
            return False
        if "gender" in people and not _member(people["gender"], _GENDER_SET):
            return False
        if "age_band" in people and not _member(people["age_band"], _AGE_SET):
            return False
        group = people.get("group", "x")
        if type(group) is not str or not _TOKEN.match(group):
            return False
    return "consent_method" not in record or _consent_agrees(record)


def _consent_agrees(record: Mapping[str, Any]) -> bool:
    """The way consent was given agrees with the consent flag and the channel: "not asked"
    is saved as no consent, and only a participant's own screen records "on screen"."""
    method = record["consent_method"]
    if not _member(method, _CONSENT_SET):
        return False
    if record["consent"] is not (method != "not_asked"):
        return False
    return (method == "on_screen") == (record["channel"] in SCREEN_CHANNELS)


def check_submission(record: Any, known_ids: set[str] | None = None) -> None:
    """Raise RecordInvalid unless ``record`` is a valid submission."""
    if is_valid_submission(record, known_ids):
        return
    SUBMISSION_CHECK(record, "submission")  # raises, naming the field
    if "consent_method" in record and not _consent_agrees(record):
        raise _fail(
            "submission.consent_method", _l("does not agree with the consent and the channel")
        )
    raise RecordInvalid("submission", _l("not valid"))
