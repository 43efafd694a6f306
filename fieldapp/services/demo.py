"""Realistic multilingual demo data: consultations, questions, attendance, action points, input.

Used by ``fieldapp demo-data``, the tests and the benchmarks. The content is the same for a given
seed; records are made through the same workspace services as the facilitator's pages.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from sqlalchemy import insert

from ..database import writing
from ..models import Submission
from . import places, records, workspace
from .records import submission_row, utc_stamp
from .sync import schema

KINDS = [
    (
        "lpc_meeting",
        {
            "ar": "اجتماع لجنة السلام المحلية",
            "ckb": "کۆبوونەوەی لیژنەی ئاشتیی ناوچەیی",
            "ku": "Civîna Komîteya Aştiyê ya Herêmî",
            "en": "Local Peace Committee meeting",
        },
    ),  # noqa: E501
    (
        "town_hall",
        {
            "ar": "اجتماع عام مع المجلس المحلي",
            "ckb": "کۆبوونەوەی گشتی لەگەڵ ئەنجومەنی خۆجێیی",
            "ku": "Civîna giştî bi meclîsa herêmî re",
            "en": "Town hall with the local council",
        },
    ),  # noqa: E501
    (
        "consultation_gathering",
        {
            "ar": "تجمّع تشاوري حول إعادة الإعمار",
            "ckb": "کۆڕی ڕاوێژ دەربارەی ئاوەدانکردنەوە",
            "ku": "Kombûna şêwirînê li ser ji nû ve avakirinê",
            "en": "Consultation on reconstruction",
        },
    ),  # noqa: E501
    (
        "dialogue_session",
        {
            "ar": "جلسة حوار بين الشباب والسلطات المحلية",
            "ckb": "دانیشتنی دیالۆگ لە نێوان گەنجان و دەسەڵاتی ناوچەیی",
            "ku": "Danişîna diyalogê di navbera ciwanan û rayedarên herêmî de",
            "en": "Dialogue between youth and local authorities",
        },
    ),  # noqa: E501
]
PRIORITIES = [
    ("security", {"ar": "الأمن", "ckb": "ئاسایش", "ku": "Ewlehî", "en": "Security"}),
    (
        "services",
        {"ar": "الخدمات", "ckb": "خزمەتگوزارییەکان", "ku": "Xizmetguzarî", "en": "Services"},
    ),
    (
        "reconstruction",
        {
            "ar": "إعادة الإعمار",
            "ckb": "ئاوەدانکردنەوە",
            "ku": "Ji nû ve avakirin",
            "en": "Reconstruction",
        },
    ),  # noqa: E501
    ("justice", {"ar": "العدالة", "ckb": "دادپەروەری", "ku": "Dadmendî", "en": "Justice"}),
    ("livelihoods", {"ar": "سبل العيش", "ckb": "بژێوی", "ku": "Debar", "en": "Livelihoods"}),
]
COMMENTS = {
    "ar": [
        "نريد مدرسة ومستشفى في الحي، ونطالب بإعادة الخدمات قبل الصيف.",
        "الطريق إلى القرية ما زال مغلقاً، والنساء لا يستطعن الوصول إلى المركز الصحي.",
        "نحتاج فرص عمل للشباب حتى لا يغادروا المنطقة.",
    ],
    "ckb": [
        "پێویستمان بە قوتابخانە و نەخۆشخانەیە لە گەڕەکەکەماندا.",
        "ڕێگای گوندەکە هێشتا داخراوە و ئافرەتان ناتوانن بگەنە بنکەی تەندروستی.",
        "گەنجان پێویستیان بە هەلی کار هەیە بۆ ئەوەی ناوچەکە جێنەهێڵن.",
    ],
    "ku": [
        "Em dibistanek û nexweşxaneyek li taxa xwe dixwazin.",
        "Rêya gund hîn girtî ye û jin nikarin biçin navenda tenduristiyê.",
        "Ciwan pêdivî bi karî ne da ku herêmê bernedin.",
    ],
    "en": [
        "We need a school and a clinic in our neighbourhood before summer.",
        "The road to the village is still closed; women cannot reach the health centre.",
        "Young people need jobs so they do not leave the area.",
    ],
}
ACTIONS = [
    {
        "ar": "متابعة إصلاح طريق القرية مع القائممقامية",
        "ckb": "بەدواداچوون بۆ چاککردنەوەی ڕێگای گوندەکە لەگەڵ قایمقامییەت",
        "ku": "Şopandina çêkirina rêya gund bi qeymeqamiyê re",
        "en": "Follow up the village road repair with the district office",
    },  # noqa: E501
    {
        "ar": "تنظيم جلسة مع مديرية التربية حول المدرسة",
        "ckb": "ڕێکخستنی دانیشتنێک لەگەڵ بەڕێوەبەرایەتی پەروەردە دەربارەی قوتابخانەکە",
        "ku": "Organîzekirina civînekê bi rêveberiya perwerdeyê re li ser dibistanê",
        "en": "Arrange a meeting with the education directorate about the school",
    },  # noqa: E501
    {
        "ar": "جمع أسماء الشباب الراغبين بالتدريب المهني",
        "ckb": "کۆکردنەوەی ناوی ئەو گەنجانەی دەیانەوێت ڕاهێنانی پیشەیی ببینن",
        "ku": "Berhevkirina navên ciwanên ku perwerdeya pîşeyî dixwazin",
        "en": "Collect names of young people who want vocational training",
    },  # noqa: E501
]
GROUPS = [
    {"id": "idp", "label": {"ar": "نازحون", "ckb": "ئاوارەکان", "ku": "Koçber", "en": "IDPs"}},
    {
        "id": "returnee",
        "label": {"ar": "عائدون", "ckb": "گەڕاوەکان", "ku": "Vegeriyayî", "en": "Returnees"},
    },  # noqa: E501
    {
        "id": "leader",
        "label": {
            "ar": "وجهاء المجتمع",
            "ckb": "ڕابەرانی کۆمەڵگا",
            "ku": "Rêberên civakê",
            "en": "Community leaders",
        },
    },  # noqa: E501
]


def _question(rng: random.Random, consultation: str, position: int, qtype: str) -> dict[str, Any]:
    texts = {
        "single_choice": {
            "ar": "ما هي الأولوية الأولى لمنطقتكم؟",
            "ckb": "یەکەم ئەولەویەتی ناوچەکەتان چییە؟",
            "ku": "Pêşîniya yekem a herêma we çi ye?",
            "en": "What is the first priority for your area?",
        },  # noqa: E501
        "rating": {
            "ar": "كيف تقيّم الخدمات في منطقتك؟",
            "ckb": "خزمەتگوزارییەکانی ناوچەکەت چۆن هەڵدەسەنگێنیت؟",
            "ku": "Hûn xizmetguzariyên herêma xwe çawa dinirxînin?",
            "en": "How do you rate the services in your area?",
        },  # noqa: E501
        "free_text": {
            "ar": "ما الذي يجب على الحكومة المحلية فعله أولاً؟",
            "ckb": "حکومەتی ناوچەیی دەبێت یەکەم جار چی بکات؟",
            "ku": "Divê hikûmeta herêmî pêşî çi bike?",
            "en": "What should local government do first?",
        },  # noqa: E501
        "yes_no": {
            "ar": "هل تشعر بالأمان في منطقتك؟",
            "ckb": "لە ناوچەکەتدا هەست بە ئاسایش دەکەیت؟",
            "ku": "Hûn li herêma xwe xwe ewle hîs dikin?",
            "en": "Do you feel safe in your area?",
        },  # noqa: E501
    }
    body: dict[str, Any] = {
        "consultation": consultation,
        "position": position,
        "type": qtype,
        "text": texts[qtype],
        "original_language": rng.choice(["ar", "ckb"]),
        "required": qtype != "free_text",
    }
    if qtype == "single_choice":
        body["options"] = [{"id": key, "label": label} for key, label in PRIORITIES]
    return body


def _answer(rng: random.Random, qtype: str, language: str) -> Any:
    if qtype == "single_choice":
        return rng.choice(PRIORITIES)[0]
    if qtype == "rating":
        return rng.randint(1, 5)
    if qtype == "yes_no":
        return rng.random() < 0.6
    return " ".join(rng.sample(COMMENTS[language], rng.randint(1, 2)))


def fill(consultations: int = 3, submissions: int = 60, seed: int = 1) -> dict[str, int]:
    """Add demo records to this installation; return how many of each were made."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible demo content, not a secret
    device = records.this_device_id()
    govs = places.governorates()
    made = {"consultations": 0, "questions": 0, "action_points": 0, "submissions": 0}
    consultation_ids: list[tuple[str, list[tuple[str, str]]]] = []
    for index in range(consultations):
        kind, title = rng.choice(KINDS)
        governorate = rng.choice(govs)
        district = rng.choice(governorate.districts)
        place = district.name("en")
        consultation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = {
            "kind": kind,
            "title": {
                lang: f"{text}{'،' if lang in ('ar', 'ckb') else ','} {district.name(lang)}"
                for lang, text in title.items()
            },
            "original_language": rng.choice(["ar", "ckb", "ku"]),
            "status": rng.choice(["open", "closed"]),
            "governorate": governorate.code,
            "district": district.code,
            "place": place,
            "programme": "Inclusive governance",
            "starts_on": f"2026-{1 + index % 12:02d}-{1 + rng.randint(0, 27):02d}",
            "languages": ["ar", "ckb", "ku", "en"],
            "groups": GROUPS,
        }
        records.create("consultation", body, record_id=consultation_id)
        questions = []
        for position, qtype in enumerate(["single_choice", "rating", "free_text", "yes_no"]):
            question_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            records.create(
                "question", _question(rng, consultation_id, position, qtype), question_id
            )
            questions.append((question_id, qtype))
            made["questions"] += 1
        records.create(
            "attendance",
            {
                "consultation": consultation_id,
                "counts": [
                    {"gender": g, "age_band": a, "count": rng.randint(0, 8)}
                    for g in ("woman", "man")
                    for a in ("18_29", "30_44", "45_59")
                ],
            },
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        for text in rng.sample(ACTIONS, 2):
            action_id = workspace.add_action(
                consultation_id,
                {
                    "text": text,
                    "original_language": "ar",
                    "priority": rng.choice(schema.PRIORITIES),
                    "status": "proposed",
                    "responsible": "Local council",
                },
            )
            if rng.random() < 0.5:
                action = workspace.get(action_id, "action_point")
                workspace.update_fields(
                    action, {"status": "agreed", "agreed_at": consultation_id}, action.rev
                )
            made["action_points"] += 1
        consultation_ids.append((consultation_id, questions))
        made["consultations"] += 1
    rows = []
    for number in range(submissions):
        consultation_id, questions = consultation_ids[number % len(consultation_ids)]
        language = rng.choice(schema.LANGS)
        record = {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "consultation": consultation_id,
            "device": device,
            "created_at": utc_stamp(),
            "language": language,
            "channel": rng.choice(schema.CHANNELS),
            "consent": True,
            "idempotency_key": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            "answers": {qid: _answer(rng, qtype, language) for qid, qtype in questions},
            "demographics": {
                "gender": rng.choice(schema.GENDERS),
                "age_band": rng.choice(schema.AGE_BANDS),
            },
        }
        schema.check_submission(record)
        rows.append(submission_row(record))
        if len(rows) >= 2000:
            _insert(rows)
            rows = []
    if rows:
        _insert(rows)
    made["submissions"] = submissions
    return made


def _insert(rows: list[dict[str, Any]]) -> None:
    from . import contributions

    with writing() as session:
        session.execute(insert(Submission), rows)
        contributions.index_submissions(json.loads(row["body"]) for row in rows)
