"""Writes the small sample sets of recipes/ner.toml and recipes/slots.toml.

The sentences are made here from templates and word lists written for the project
(no sentence comes from CoNLL-2003, ATIS or SNIPS): enough for a first run to show
entities being learned, not a benchmark. Re-run to regenerate (fixed seed):

    python tools/make_tagging_samples.py
"""

import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parents[1] / "recipes" / "data"

PEOPLE = ["Maria Lopez", "John Carter", "Aiko Tanaka", "Peter Novak", "Fatima Ali", "Lars Berg",
          "Chen Wei", "Olga Petrova", "David Okafor", "Sara Costa", "Tom Fischer", "Nina Rossi"]
PLACES = ["Paris", "Nairobi", "Oslo", "Lima", "Toronto", "Kyoto", "Madrid", "Cairo", "Berlin",
          "Sydney", "Denver", "Lisbon", "New York", "Buenos Aires"]
ORGS = ["Acme Corp", "the United Nations", "Globex", "Initech", "the Red Cross", "Nordic Rail",
        "Blue River Bank", "Orbit Labs", "the World Bank", "Sunrise Foods"]
MISC = ["French", "Olympic", "Japanese", "Nobel", "Brazilian", "Christmas", "German", "Arabic"]
NER_TEMPLATES = [
    "{PER} flew to {LOC} on Monday .",
    "{ORG} opened a new office in {LOC} .",
    "{PER} , a spokesman for {ORG} , declined to comment .",
    "The {MISC} team beat the visitors 3 - 1 in {LOC} .",
    "{PER} said {ORG} would cut 200 jobs .",
    "Shares in {ORG} rose 4 percent in {LOC} trading .",
    "{PER} won the {MISC} prize last year .",
    "Police in {LOC} arrested two men on Tuesday .",
    "{ORG} and {ORG} signed a deal worth $ 10 million .",
    "{PER} met {PER} in {LOC} to discuss the {MISC} election .",
    "It rained all day and the match was called off .",
    "Prices fell for the third week in a row .",
]

CITIES = ["boston", "denver", "dallas", "seattle", "atlanta", "miami", "chicago", "phoenix",
          "san francisco", "new york", "las vegas", "salt lake city"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TIMES = ["morning", "evening", "afternoon", "night"]
AIRLINES = ["delta", "united", "american", "alaska airlines", "jetblue"]
SLOT_TEMPLATES = [
    ("flight", "show me flights from {fromloc} to {toloc}"),
    ("flight", "i want to fly from {fromloc} to {toloc} on {day}"),
    ("flight", "find a {airline} flight to {toloc} {day} {time}"),
    ("airfare", "how much is a ticket from {fromloc} to {toloc}"),
    ("airfare", "what is the cheapest fare to {toloc} on {day}"),
    ("ground_service", "what ground transportation is there in {toloc}"),
    ("airline", "which airlines fly from {fromloc} to {toloc}"),
    ("flight_time", "when does the {airline} flight leave {fromloc} on {day}"),
]
SLOT_VALUES = {"fromloc": CITIES, "toloc": CITIES, "day": DAYS, "time": TIMES, "airline": AIRLINES}
SLOT_NAMES = {"fromloc": "fromloc.city_name", "toloc": "toloc.city_name", "day": "depart_date.day_name",
              "time": "depart_time.period_of_day", "airline": "airline_name"}


def tagged(value, type_):
    words = value.split()
    return [(w, ("B-" if i == 0 else "I-") + type_) for i, w in enumerate(words)]


def ner_sentence(rng):
    template = rng.choice(NER_TEMPLATES)
    pairs = []
    for token in template.split():
        if token.startswith("{") and token.endswith("}"):
            type_ = token[1:-1]
            value = rng.choice({"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS, "MISC": MISC}[type_])
            if value.startswith("the "):  # "the" is not part of the name
                pairs.append(("the", "O"))
                value = value[4:]
            pairs += tagged(value, type_)
        else:
            pairs.append((token, "O"))
    return pairs


def slots_sentence(rng):
    intent, template = rng.choice(SLOT_TEMPLATES)
    pairs = []
    for token in template.split():
        if token.startswith("{"):
            key = token[1:-1]
            pairs += tagged(rng.choice(SLOT_VALUES[key]), SLOT_NAMES[key])
        else:
            pairs.append((token, "O"))
    return intent, pairs


def write_conll(path, sentences):
    lines = ["-DOCSTART- -X- -X- O", ""]
    for pairs in sentences:
        lines += [f"{word} {tag}" for word, tag in pairs] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_seq_in(folder, sentences):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seq.in").write_text("".join(" ".join(w for w, _ in p) + "\n" for _, p in sentences))
    (folder / "seq.out").write_text("".join(" ".join(t for _, t in p) + "\n" for _, p in sentences))
    (folder / "label").write_text("".join(intent + "\n" for intent, _ in sentences))


def main():
    rng = random.Random(0)
    (ROOT / "ner").mkdir(parents=True, exist_ok=True)
    write_conll(ROOT / "ner" / "train.conll", [ner_sentence(rng) for _ in range(1200)])
    write_conll(ROOT / "ner" / "dev.conll", [ner_sentence(rng) for _ in range(200)])
    write_seq_in(ROOT / "slots" / "train", [slots_sentence(rng) for _ in range(1200)])
    write_seq_in(ROOT / "slots" / "dev", [slots_sentence(rng) for _ in range(200)])


if __name__ == "__main__":
    main()
