"""What a question is: its language, whether it asks about procedure, the persons and places it names, and
what it asks once the names of its meeting are left out. Retrieval and answers both adapt to these.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.indexing.tokens import analyse
from rag.parsing.metadata import find_body

_PLACE_SUFFIX = ("市", "区", "町", "村", "県", "都", "府")


def is_english(text: str) -> bool:
    """Mostly Latin letters and no kana/kanji: search densely, answer in English."""
    jp = sum(1 for ch in text if "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return jp == 0 and latin > 0


# a question about procedure itself: a vote, the session, a recess, the next sitting (the chair's turns answer it)
_ASKS_PROCEDURE = re.compile(r"採決|可決|否決|賛否|賛成多数|反対多数|起立|簡易採決|記名投票|承認|同意|認定|採択|議決|会期|何日間|"
                             r"決着|決まっ|決定し|決し|選任|指名|互選|当選|署名議員|"
                             r"次回|次の会議|散会|延会|休憩|閉会|開会|\bvot|\bpass|approv|reject|adopt|session|adjourn|"
                             r"recess|next (meeting|sitting)", re.I)


def asks_procedure(question: str) -> bool:
    return bool(_ASKS_PROCEDURE.search(question))


# a chair's sentence that declares what was decided: the evidence a procedure question asks for
_DECLARES = re.compile(r"決定いたしま(?:す|した)|決しました|可決されました|否決されました|承認されました|同意(する|いた)ことに決|"
                       r"認定されました|採択(と|されました)|と認めます|休憩いたします|散会いたします|延会いたします|閉会いたします|"
                       r"開きます|開議いたします|記名投票|起立多数|起立全員|賛成多数|賛成[0-9０-９]|反対[0-9０-９]|総数")


def declares_decision(text: str) -> bool:
    return bool(_DECLARES.search(text))


# a question for how an item ended (the vote, its result), not for what was said about it
_ASKS_OUTCOME = re.compile(r"採決結果|採決の結果|どう採決|採決はどう|可決|否決|賛否|決着|結果|どうなっ|どう決ま|どのように決ま|どう扱われ|どう処理|承認され|同意され|"
                           r"認定され|採択され|\bvot|outcome|\bresult|\bpassed|approved|adopted|rejected", re.I)
# the chair's turn that declares how an item ended — a declaration, not the call to vote (「本件を承認することに賛成の
# 諸君の起立を求めます」), a proposal (「原案のとおり承認することにしたいと思います」) nor a report's recommendation
# (「原案可決であります」); matched with the text's spaces removed (PDFs space out 可 決)
_DECLARES_OUTCOME = re.compile(r"(?:可決|否決|承認|同意|認定|採択|了承)(?:され(?:まし)?た|することに決|と決|いたしました)|ことに決|"
                               r"決しました|決定(?:いた|を|し)|総数[0-9０-９一二三四五六七八九十]|賛成[0-9０-９一二三四五六七八九十]|"
                               r"起立多数|起立全員|賛成多数|不採択")


# who was chosen (the person named in the chair's declaration), not who spoke: 「委員長に選ばれたのは誰か」
_ASKS_CHOSEN = re.compile(r"(?:指名|選任|互選|推薦|選出|任命)され(?:た|る)(?:の|人|者|[0-9０-９一二三四五]名)?は(?:誰|だれ|どなた)|"
                          r"選ばれた(?:の)?は(?:誰|だれ|どなた)|(?:誰|だれ)が選ばれ|に決まった(?:の)?は(?:誰|だれ)|"
                          r"は(?:誰|だれ)に(?:なっ|決まっ)|対象は(?:誰|だれ|どなた)|当選したのは(?:誰|だれ)|"
                          r"\bwho (?:was|were) (?:elected|appointed|nominated|chosen|named)\b|\bwho became\b", re.I)


def asks_who_was_chosen(question: str) -> bool:
    return bool(_ASKS_CHOSEN.search(question))


# a person named with their title in a declaration: 石田秀男委員, ３番　稲葉かずひろ議員, 栗山良夫君, 濱松誠さん
_NAMED_PERSON = re.compile(r"(?P<name>[一-龥々ぁ-んァ-ヶー]{2,11}?)(?P<title>議員|委員長|委員|君|さん|氏)(?![会長])")
_ROLE_PREFIX = re.compile(r"^(?:.*?(?:副委員長|委員長|副議長|議長|理事|監査委員|委員|として|には|に|は|、))+")
_NOT_NAMES = ("各", "全", "当該", "同", "本", "他", "残り", "臨時", "選出", "区議会", "市議会", "町議会", "議会", "出席",
              "欠席", "説明", "両", "お二人", "お")


_NOT_IN_NAMES = re.compile(r"委員|議員|議案|監査|特別|常任|正副|配付|只今|ただいま|より|号|署名|会議|選出|議会|規則|会派|大臣|長|"
                           r"[のをがとにはでへや]$|[ぁ-ん][のをがにはで][一-龥]")  # 暫くの間小(委員長): a phrase, not a name


def persons_named(sentence: str) -> list[str]:
    """The persons a sentence names with their title (spaces of aligned rosters removed), in order."""
    flat = re.sub(r"[\s\u3000]", "", sentence)
    # a seat number vouches for the name after it: ８番大関議員
    seated = {m.group("name") for m in re.finditer(r"[0-9０-９]+番[、,，]?(?P<name>[一-龥々ぁ-んァ-ヶー]{1,8}?)(?:議員|委員|君)", flat)}
    flat = re.sub(r"[0-9０-９]+番[、,，]?", "、", flat)
    out: list[str] = []
    for m in _NAMED_PERSON.finditer(flat):
        name = re.sub(r"^[をにはがとも]", "", _ROLE_PREFIX.sub("", m.group("name")))
        if (2 <= len(name) <= 8 and not name.startswith(_NOT_NAMES) and not _NOT_IN_NAMES.search(name)
                and (name in seated or any(kind == "person" for kind, _ in proper_nouns(name))
                     or re.search(r"[ぁ-ん]", name))):
            person = name + m.group("title")
            if person not in out:
                out.append(person)
    return out


def asks_outcome(question: str) -> bool:
    return bool(_ASKS_OUTCOME.search(question))


def declares_outcome(text: str) -> bool:
    return bool(_DECLARES_OUTCOME.search(re.sub(r"\s", "", text)))


def proper_nouns(text: str) -> list[tuple[str, str]]:
    """("person", 関谷博) and ("place", 盛岡市) as Sudachi tags them in `text`."""
    morphemes = analyse(text)
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(morphemes):
        pos = morphemes[i].part_of_speech()
        word = morphemes[i].surface()
        if pos[1] == "固有名詞" and pos[2] == "人名":  # 関谷 + 博 -> 関谷博
            while i + 1 < len(morphemes) and morphemes[i + 1].part_of_speech()[2] == "人名":
                i += 1
                word += morphemes[i].surface()
            out.append(("person", word))
        elif pos[2] == "地名" and i + 1 < len(morphemes) and morphemes[i + 1].surface()[:1] in _PLACE_SUFFIX:
            # a municipality or prefecture: 盛岡 + 市, 下関 + 市長, 長崎 + 市民 (not 日本 in 東日本大震災)
            i += 1
            out.append(("place", word + morphemes[i].surface()[0]))
        i += 1
    return out


_MEETING_WORDS = re.compile(r"(?:令和|平成|昭和)[0-9０-９元一二三四五六七八九十]+年度?|[0-9０-９]{4}年|[0-9０-９一二三四五六七八九十]+月"
                            r"(?:[0-9０-９一二三四五六七八九十]+日)?|第[0-9０-９一二三四五六七八九十]+回|定例会|臨時会|緊急議会|本会議")


def focus_of(question: str, names: Sequence[str] = ()) -> str:
    """The question without the names of the meeting it is about (its body, places, session, year, meeting
    number): what it asks. `names`: further strings to leave out (a question's constraint labels)."""
    text = question
    body = find_body(text)
    places = [w for kind, w in proper_nouns(question) if kind == "place"]
    for label in sorted([*names, *places] + ([body] if body else []), key=len, reverse=True):
        text = text.replace(label, " ")
    text = _MEETING_WORDS.sub(" ", text)
    text = re.sub(r"[\s\u3000]+", " ", text).strip()
    text = re.sub(r"^(?:会|議会)?[ はでがのにを、]+", "", text)  # what was left of 横浜市会で, 墨田区議会の
    return text if len(text) >= 3 else question


# 「予算特別委員会の副委員長には誰が選ばれたか」: the committee whose officers a question asks who was elected
_OFFICERS_ELECTED = re.compile(r"(?<![0-9０-９一二三四五六七八九十])(?P<name>[一-龥ァ-ヶー・]{2,24}?(?:委員会|審査会|調査会|協議会|分科会))"
                               r"の(?:副|正副)?(?:委員長|会長|理事)(?:に|には|は)?(?:誰が|どなたが)?"
                               r"(?:選ばれ|選出され|選任され|互選され|当選し|決まっ|決定し|就任し)")


def officers_elected_by(question: str) -> list[str]:
    """The committees (as written) whose chair, vice-chair… the question asks about being elected."""
    return [m.group("name") for m in _OFFICERS_ELECTED.finditer(question)]
