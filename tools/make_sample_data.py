"""Writes recipes/data/: small sample data sets so every recipe runs out of the box.

The sets were written for tfbert: sentences are composed from hand-written fragments
(subjects, verbs, objects, opinions, places, times) plus a few dozen fully
hand-written sentences. Nothing is taken from an existing data set. They are meant
for smoke-testing the recipes (fine-tuning MiniLM in minutes on a laptop CPU), not
as benchmarks; real benchmarks read ../shared/data.

    python tools/make_sample_data.py

Deterministic: every set has its own seeded random.Random, so a re-run writes the
same bytes. Standard library only.

    recipes/data/sentiment/{train,dev}.tsv        sentence, label (negative/positive)
    recipes/data/intent/{train,dev}.jsonl         {"text", "intent"}; "a#b" = two intents
    recipes/data/pair_similarity/{train,dev}.tsv  sentence1, sentence2, score (0.0-5.0)
    recipes/data/paraphrase/{train,dev}.tsv       sentence1, sentence2, label
"""

import json
import pathlib
import random
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "recipes" / "data"

N_TRAIN = 400
N_DEV = 100


def cap(text):
    return text[0].upper() + text[1:] if text else text


def clean(text):
    """One line of plain text: single spaces, no tabs, newlines or double quotes."""
    text = " ".join(text.split())
    text = text.replace(" ,", ",").replace(" .", ".").replace(" ?", "?")
    assert "\t" not in text and "\n" not in text and '"' not in text, text
    return text


def unique(rows, key=lambda row: row):
    """Drops repeated rows (by key), keeping the first; order preserved."""
    seen = {}
    for row in rows:
        seen.setdefault(key(row), row)
    return list(seen.values())


def split_stratified(rng, groups, quotas):
    """groups: {stratum: [rows]}, quotas: {stratum: (n_train, n_dev)} -> train, dev."""
    train, dev = [], []
    for stratum, rows in groups.items():
        n_train, n_dev = quotas[stratum]
        rows = list(rows)
        rng.shuffle(rows)
        assert len(rows) >= n_train + n_dev, (stratum, len(rows), n_train + n_dev)
        dev.extend(rows[:n_dev])
        train.extend(rows[n_dev:n_dev + n_train])
    rng.shuffle(train)
    rng.shuffle(dev)
    return train, dev


def write_tsv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)]
    for row in rows:
        fields = [str(field) for field in row]
        for field in fields:
            assert "\t" not in field and "\n" not in field and '"' not in field, field
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------- sentiment

# Each domain: items and aspects as (noun phrase, is_plural), and closing remarks.
SENT_DOMAINS = {
    "film": {
        "items": [("the film", 0), ("this movie", 0), ("the sequel", 0), ("the documentary", 0),
                  ("the new thriller", 0), ("that animated feature", 0), ("the director's latest", 0),
                  ("the romantic comedy", 0)],
        "aspects": [("the acting", 0), ("the script", 0), ("the soundtrack", 0), ("the pacing", 0),
                    ("the ending", 0), ("the camera work", 0), ("the dialogue", 0),
                    ("the special effects", 1)],
        "pos_tail": ["I would happily watch it again.", "It stayed with me for days.",
                     "The whole theater applauded at the end."],
        "neg_tail": ["I nearly walked out.", "I checked my watch more than once.",
                     "Two hours of my life I will not get back."],
    },
    "restaurant": {
        "items": [("the restaurant", 0), ("this little bistro", 0), ("the noodle bar", 0),
                  ("the steakhouse", 0), ("the cafe on the corner", 0), ("the new taco place", 0),
                  ("the pizzeria near the station", 0), ("our dinner there", 0)],
        "aspects": [("the food", 0), ("the service", 0), ("the dessert menu", 0), ("the portions", 1),
                    ("the waiters", 1), ("the wine list", 0), ("the coffee", 0), ("the soup", 0)],
        "pos_tail": ["We will definitely be back.", "Worth every penny.",
                     "We are already planning our next visit."],
        "neg_tail": ["We won't be going back.", "We left hungry and annoyed.",
                     "We paid far too much for it."],
    },
    "gadget": {
        "items": [("this phone", 0), ("the new laptop", 0), ("these headphones", 1),
                  ("the smartwatch", 0), ("the blender", 0), ("the e-reader", 0),
                  ("this vacuum cleaner", 0), ("the wireless speaker", 0)],
        "aspects": [("the battery life", 0), ("the screen", 0), ("the build quality", 0),
                    ("the sound", 0), ("the setup", 0), ("the charger", 0), ("the buttons", 1),
                    ("the instructions", 1)],
        "pos_tail": ["Best purchase I made this year.", "I use it every single day.",
                     "I already bought a second one as a gift."],
        "neg_tail": ["It went back to the shop after a week.", "Save your money.",
                     "It stopped working within a month."],
    },
    "hotel": {
        "items": [("the hotel", 0), ("our room", 0), ("this resort", 0), ("the guesthouse", 0),
                  ("the hostel", 0), ("the beach cabin", 0), ("the airport hotel", 0)],
        "aspects": [("the bed", 0), ("the breakfast", 0), ("the front desk", 0), ("the view", 0),
                    ("the pool", 0), ("the location", 0), ("the bathrooms", 1), ("the wifi", 0)],
        "pos_tail": ["I would stay there again.", "It felt like a second home.",
                     "We extended our stay by two nights."],
        "neg_tail": ["I would not stay there again.", "I could not wait to check out.",
                     "We moved to another place after one night."],
    },
    "book": {
        "items": [("the novel", 0), ("this memoir", 0), ("the biography", 0),
                  ("the short story collection", 0), ("this mystery", 0), ("the fantasy trilogy", 0),
                  ("the travel guide", 0)],
        "aspects": [("the writing", 0), ("the characters", 1), ("the plot", 0), ("the dialogue", 0),
                    ("the ending", 0), ("the first chapter", 0), ("the translation", 0)],
        "pos_tail": ["I finished it in one sitting.", "I have already lent it to a friend.",
                     "I could not put it down."],
        "neg_tail": ["I gave up halfway through.", "It is still on my shelf, unfinished.",
                     "I fell asleep reading it twice."],
    },
    "travel": {
        "items": [("the flight", 0), ("the tour", 0), ("the train journey", 0),
                  ("the ferry crossing", 0), ("the guided hike", 0), ("the bus trip", 0),
                  ("our cruise", 0), ("the city walking tour", 0)],
        "aspects": [("the guide", 0), ("the seats", 1), ("the scenery", 0), ("the schedule", 0),
                    ("the crew", 0), ("the food on board", 0), ("the booking process", 0)],
        "pos_tail": ["I would book it again tomorrow.", "Easily the highlight of our holiday.",
                     "Every minute was worth it."],
        "neg_tail": ["I would not book it again.", "It nearly ruined our holiday.",
                     "We asked for a refund."],
    },
    "app": {
        "items": [("the app", 0), ("this update", 0), ("the game", 0), ("the website", 0),
                  ("the new software", 0), ("the fitness tracker app", 0)],
        "aspects": [("the interface", 0), ("the controls", 1), ("the loading times", 1),
                    ("the design", 0), ("the search feature", 0), ("the customer support", 0),
                    ("the notifications", 1)],
        "pos_tail": ["It has made my life easier.", "I recommend it to everyone I know.",
                     "Five stars from me."],
        "neg_tail": ["I uninstalled it the next day.", "Avoid it.", "One star, and that is generous."],
    },
}

POS_ADJ = ["excellent", "wonderful", "fantastic", "superb", "great", "lovely", "impressive",
           "first-rate", "brilliant", "outstanding", "a real delight"]
NEG_ADJ = ["terrible", "awful", "disappointing", "dreadful", "poor", "appalling", "frustrating",
           "shoddy", "a complete letdown", "a waste of money"]
MILD_POS = ["pleasant", "decent", "solid", "pretty good", "better than expected", "quite nice",
            "perfectly enjoyable"]
MILD_NEG = ["a bit underwhelming", "rather bland", "forgettable", "a little disappointing",
            "average at best", "somewhat tiresome", "not quite right"]
POS_VERB = ["loved", "really enjoyed", "was impressed by", "was delighted with", "thoroughly enjoyed",
            "was pleasantly surprised by", "fell in love with"]
NEG_VERB = ["was let down by", "regret paying for", "was disappointed by", "really disliked",
            "cannot recommend", "would not recommend", "was bored by"]
POS_OPEN = ["", "", "", "Honestly, ", "Overall, ", "I have to say ", "Happily, ", "All in all, ",
            "To my surprise, "]
NEG_OPEN = ["", "", "", "Honestly, ", "Overall, ", "I have to say ", "Sadly, ", "Unfortunately, ",
            "To be blunt, "]

SENT_HANDWRITTEN = {
    "positive": [
        "What a charming evening, from the first course to the last.",
        "The kids laughed from start to finish and so did we.",
        "It arrived a day early and works exactly as described.",
        "A quiet, clean room with a balcony over the harbor. Perfect.",
        "I expected a tourist trap and found a gem.",
        "The staff remembered our names on the second morning.",
        "Every chapter ends in a way that makes you turn the page.",
        "Simple to set up, fast, and it has never crashed on me.",
        "The guide knew every story behind every old building.",
        "Not bad at all for the price.",
        "Far better than the reviews had led me to believe.",
        "I can't think of a single thing I would change.",
        "The soup alone was worth the trip across town.",
        "The last twenty minutes had me on the edge of my seat.",
        "It is not flashy, but it does everything well.",
        "Our waiter went out of his way to make the night special.",
        "The battery easily lasts two full days of heavy use.",
        "A warm, funny and surprisingly moving story.",
        "I have never slept so well in a hotel bed.",
        "Small gripes aside, I would buy it again without a second thought.",
        "The view from the top made the long climb worthwhile.",
        "Nobody in our group had a bad word to say about it.",
    ],
    "negative": [
        "The soup was cold and the bread was stale.",
        "It broke the second time I used it.",
        "We waited forty minutes for a table we had booked.",
        "The plot makes no sense and the ending is a cheat.",
        "Hardly worth it, even at half the price.",
        "The room smelled of smoke and the shower barely worked.",
        "I wanted to like it, but it is just dull.",
        "The app logs me out every time I switch screens.",
        "Our flight was delayed six hours and nobody told us why.",
        "Far too loud, far too expensive, and far too slow.",
        "The characters are flat and the jokes fall flat too.",
        "Nothing about the tour matched what the brochure promised.",
        "After an hour the headphones hurt my ears.",
        "The manager shrugged when we pointed out the mistake.",
        "I have had better meals at a gas station.",
        "It looks nice in the photos, and that is about it.",
        "Not something I would ever buy again.",
        "The screen scratched within a week of normal use.",
        "Two hours in, I still did not care about anyone on screen.",
        "They charged us twice and refused to refund the difference.",
        "The pool was closed for the whole week we were there.",
        "Overpriced, overhyped and underwhelming.",
    ],
}


def be(plural):
    return "were" if plural else "was"


def make_sentiment(rng):
    def pick_domain():
        dom = SENT_DOMAINS[rng.choice(list(SENT_DOMAINS))]
        item, ip = rng.choice(dom["items"])
        (a1, p1), (a2, p2) = rng.sample(dom["aspects"], 2)
        return dom, item, ip, a1, p1, a2, p2

    def positive():
        dom, item, ip, a1, p1, a2, p2 = pick_domain()
        op = rng.choice(POS_OPEN)
        pos, pos2 = rng.sample(POS_ADJ, 2)
        t = rng.randrange(12)
        if t == 0:
            return f"{op}{item} {be(ip)} {pos}."
        if t == 1:
            return f"{op}{a1} {be(p1)} {pos}, and {a2} {be(p2)} {pos2}."
        if t == 2:
            return f"I {rng.choice(POS_VERB)} {item}."
        if t == 3:
            return f"{op}{item} {be(ip)} {pos}. {rng.choice(dom['pos_tail'])}"
        if t == 4:  # mild complaint, positive overall
            return f"{a1} {be(p1)} {rng.choice(MILD_NEG)}, but {item} {be(ip)} {pos} overall."
        if t == 5:
            return f"{item} {be(ip)} {rng.choice(MILD_POS)}, and I would try it again."
        if t == 6:
            return f"Not perfect, but {item} {be(ip)} {rng.choice(MILD_POS)}."
        if t == 7:
            return f"{op}{item} {be(ip)} {pos}, especially {a1}."
        if t == 8:
            return f"{op}{a1} {be(p1)} {pos}, even if {a2} {be(p2)} {rng.choice(MILD_NEG)}."
        # negations that end up positive
        return rng.choice([
            f"{item} {be(ip)} not bad at all.",
            f"I can't complain about {a1}.",
            f"Nothing about {a1} let me down.",
            f"I wasn't expecting much from {item}, but it won me over.",
            f"I have no complaints about {item}.",
            f"I don't regret choosing {item} one bit.",
            f"{a1} {be(p1)} never a problem, and {a2} {be(p2)} {pos}.",
            f"I could not have asked for more from {item}.",
            f"{a1} {be(p1)} not perfect, but overall I {rng.choice(POS_VERB)} {item}.",
            f"No regrets: {item} {be(ip)} {pos}.",
        ])

    def negative():
        dom, item, ip, a1, p1, a2, p2 = pick_domain()
        op = rng.choice(NEG_OPEN)
        neg, neg2 = rng.sample(NEG_ADJ, 2)
        t = rng.randrange(12)
        if t == 0:
            return f"{op}{item} {be(ip)} {neg}."
        if t == 1:
            return f"{op}{a1} {be(p1)} {neg}, and {a2} {be(p2)} no better."
        if t == 2:
            return f"I {rng.choice(NEG_VERB)} {item}."
        if t == 3:
            return f"{op}{item} {be(ip)} {neg}. {rng.choice(dom['neg_tail'])}"
        if t == 4:  # mild praise, negative overall
            return f"{a1} {be(p1)} {rng.choice(MILD_POS)}, but {item} {be(ip)} {neg} overall."
        if t == 5:
            return f"{item} {be(ip)} {rng.choice(MILD_NEG)}, and I won't be back."
        if t == 6:
            return f"{item} {be(ip)} fine, I suppose, but {a1} {be(p1)} {rng.choice(MILD_NEG)}."
        if t == 7:
            return f"{op}{item} {be(ip)} {neg}, especially {a1}."
        if t == 8:
            return f"{op}{a1} {be(p1)} {neg}, even if {a2} {be(p2)} {rng.choice(MILD_POS)}."
        # negations that end up negative
        return rng.choice([
            f"{item} {be(ip)} hardly worth it.",
            f"{item} {be(ip)} not worth the money.",
            f"I can't say I enjoyed {item}.",
            f"{a1} {be(p1)} not good at all.",
            f"{item} {be(ip)} not nearly as good as I had hoped.",
            f"I would not call {a1} anything special.",
            f"{item} never lived up to the hype.",
            f"There was nothing good about {a1}.",
            f"{a1} {be(p1)} hardly acceptable, and {a2} {be(p2)} {neg}.",
            f"No one should have to put up with {a1} like that.",
        ])

    n_hand = {label: len(rows) for label, rows in SENT_HANDWRITTEN.items()}
    groups = {}
    for label, gen in (("positive", positive), ("negative", negative)):
        pool = [clean(cap(s)) for s in SENT_HANDWRITTEN[label]]
        while len(unique(pool)) < (N_TRAIN + N_DEV) // 2:
            pool.append(clean(cap(gen())))
        groups[label] = unique(pool)
        assert len(groups[label]) - n_hand[label] > 0
    # Exact duplicates across labels would be contradictory; there are none by design.
    assert not set(groups["positive"]) & set(groups["negative"])
    quotas = {label: (N_TRAIN // 2, N_DEV // 2) for label in groups}
    grouped = {label: [(s, label) for s in rows] for label, rows in groups.items()}
    return split_stratified(rng, grouped, quotas)


# ------------------------------------------------------------------------------ intent

CITIES = ["denver", "boston", "seattle", "chicago", "atlanta", "dallas", "miami", "san francisco",
          "new york", "phoenix", "portland", "las vegas", "orlando", "pittsburgh", "baltimore",
          "philadelphia", "washington", "salt lake city", "minneapolis", "houston", "nashville",
          "san diego", "detroit", "charlotte"]
DAYS = ["tomorrow", "today", "on friday", "next monday", "this weekend", "on the 12th",
        "tomorrow morning", "on sunday night", "next week", "on tuesday afternoon", "on may 3rd",
        "the day after tomorrow"]
CLOCK = ["6 am", "6:30", "7 o'clock", "quarter to eight", "5:45 am", "noon", "half past six",
         "7:15 tomorrow morning", "9 pm", "four in the afternoon", "8:20", "10 tonight"]
CABIN = ["economy", "business class", "first class", "one way", "round trip", "nonstop"]
GENRES = ["jazz", "classical music", "some rock", "eighties pop", "country", "lo-fi beats",
          "something relaxing", "hip hop", "the blues", "acoustic covers", "reggae",
          "something upbeat"]
PLAYLISTS = ["workout", "road trip", "dinner party", "morning", "focus", "rainy day", "chill"]
ARTISTS = ["the midnight owls", "clara bloom", "the copper kettles", "jonah reyes",
           "velvet harbor", "the paper lanterns"]
RESTAURANTS = ["luigi's", "the golden wok", "blue fin sushi", "casa verde", "the corner grill",
               "maple street diner", "le petit jardin", "spice route"]
CUISINES = ["italian", "thai", "mexican", "indian", "sushi", "vegetarian", "greek", "korean",
            "seafood"]
PARTY = ["two", "four", "six", "3", "5", "eight", "me and my wife", "a party of seven"]
PLACES = ["the airport", "the train station", "my hotel", "the convention center", "downtown",
          "the stadium", "the harbor"]
PLEASE = ["", "", "please ", "could you ", "can you ", "hey, "]

INTENT_TEMPLATES = {
    "book_flight": [
        "{pls}book me a flight from {c1} to {c2} {day}",
        "i need to fly to {c2} {day}",
        "{pls}get me a seat on a flight to {c2} {day}",
        "{pls}reserve a {cabin} ticket from {c1} to {c2}",
        "i'd like to book a {cabin} flight to {c2} {day}",
        "{pls}put me on the earliest flight to {c2} {day}",
        "book two tickets from {c1} to {c2} for {day}",
        "i want to fly out of {c1} {day} and land in {c2}",
        "{pls}book the evening flight to {c2}",
        "find and book a flight to {c2} leaving {day}",
    ],
    "flight_fare": [
        "how much is a flight from {c1} to {c2}",
        "what's the cheapest fare to {c2} {day}",
        "how much does a {cabin} ticket to {c2} cost",
        "{pls}show me fares from {c1} to {c2}",
        "what does it cost to fly to {c2} {day}",
        "are there any cheap tickets to {c2} {day}?",
        "price of a {cabin} ticket from {c1} to {c2}",
        "what is the lowest airfare between {c1} and {c2}",
        "how expensive are flights to {c2} {day}?",
        "compare ticket prices from {c1} to {c2}",
    ],
    "weather": [
        "what's the weather like in {c} {day}",
        "will it rain in {c} {day}?",
        "do i need an umbrella {day}",
        "how hot is it going to be in {c} {day}",
        "{pls}give me the forecast for {c}",
        "is it going to snow {day}?",
        "how cold will it get in {c} tonight",
        "what's the temperature outside right now",
        "should i bring a jacket to {c} {day}",
        "is there a storm coming to {c} {day}?",
    ],
    "play_music": [
        "{pls}play {genre}",
        "{pls}put on my {playlist} playlist",
        "i want to hear {genre}",
        "{pls}play the new album by {artist}",
        "shuffle songs by {artist}",
        "{pls}start my {playlist} playlist",
        "play something by {artist}",
        "i'm in the mood for {genre}, put some on",
        "{pls}turn on some {playlist} music",
        "queue up {genre} on the kitchen speaker",
    ],
    "set_alarm": [
        "{pls}set an alarm for {clock}",
        "{pls}wake me up at {clock}",
        "i need an alarm at {clock}",
        "{pls}set my alarm {day} for {clock}",
        "{pls}wake me at {clock} {day}",
        "alarm for {clock} please",
        "make sure i'm up by {clock}",
        "{pls}add an alarm at {clock} on weekdays",
        "{pls}change my alarm to {clock}",
        "set a wake up call for {clock}",
    ],
    "restaurant_booking": [
        "{pls}book a table for {party} at {rest} {day}",
        "{pls}reserve a table for {party} at a {cuisine} place {day}",
        "i'd like a dinner reservation for {party} at {clock}",
        "{pls}get us a table at {rest} at {clock}",
        "{pls}make a reservation at a {cuisine} restaurant near {place}",
        "is there a table free at {rest} {day} for {party}?",
        "book dinner for {party} at {rest}",
        "i want to reserve lunch at a {cuisine} restaurant {day}",
        "{pls}find a {cuisine} restaurant and book a table for {party}",
        "save us a table at {rest} for {clock}",
    ],
    "ground_transport": [
        "how do i get from the {c} airport to downtown",
        "is there a shuttle from the airport to my hotel in {c}?",
        "{pls}call me a taxi to {place}",
        "what ground transportation is available in {c}",
        "i need a rental car in {c} {day}",
        "{pls}book a cab to {place} {day}",
        "does a train run from the airport into {c}?",
        "{pls}get me a ride to {place}",
        "how much is a taxi from {place} to my hotel in {c}",
        "which bus goes from the {c} airport to the city center",
    ],
    "cancel_booking": [
        "{pls}cancel my flight to {c} {day}",
        "{pls}cancel my reservation at {rest}",
        "i need to cancel my hotel booking in {c}",
        "{pls}call off my table for {party} {day}",
        "{pls}cancel the car i rented for {day}",
        "i won't make my flight to {c}, cancel it",
        "drop my dinner reservation at {rest}",
        "{pls}cancel my booking for {day}",
        "i'd like to cancel my trip to {c} and get a refund",
        "scrap the table i booked at {rest}",
    ],
}

# Two-intent requests; the label names both intents, in the order given here.
MULTI_TEMPLATES = {
    "book_flight#flight_fare": [
        "{pls}book me a flight to {c2} and tell me how much it costs",
        "i want to fly from {c1} to {c2} {day}, book it and tell me the fare",
        "find me a flight to {c2} {day}, book it and show me the price",
        "what's the fare from {c1} to {c2}? if it's reasonable book me a seat",
        "book a {cabin} ticket to {c2} and let me know the price",
    ],
    "book_flight#weather": [
        "{pls}book a flight to {c2} {day} and tell me what the weather will be there",
        "what's the forecast in {c2} {day}? also book me a flight there",
        "get me on a flight to {c2} and check if it will rain there {day}",
        "book me a seat to {c2} {day} and tell me how warm it is there",
    ],
    "restaurant_booking#ground_transport": [
        "{pls}book a table for {party} at {rest} and get me a taxi there",
        "reserve dinner at {rest} {day} and order a cab for {clock}",
        "book a {cuisine} restaurant for {party} and tell me how to get there from {place}",
        "get us a table at {rest} and a ride from {place}",
    ],
    "cancel_booking#book_flight": [
        "cancel my flight to {c1} and book me one to {c2} instead",
        "{pls}drop my {day} flight and put me on a later one to {c2}",
        "i need to cancel my trip to {c1} and fly to {c2} {day} instead",
        "cancel my booking and get me a new flight to {c2}",
    ],
    "set_alarm#weather": [
        "{pls}set an alarm for {clock} and tell me if it will rain tomorrow",
        "wake me at {clock} and give me the forecast for {c}",
        "what's the weather tomorrow? and set an alarm for {clock}",
        "set my alarm for {clock} and check whether it will snow in {c}",
    ],
    "play_music#set_alarm": [
        "{pls}set an alarm for {clock} and play {genre}",
        "play my {playlist} playlist and wake me up at {clock}",
        "put on {genre} and set an alarm for {clock}",
        "wake me at {clock} with {genre}",
    ],
}

INTENT_HANDWRITTEN = [
    ("i have a meeting in boston on thursday, can you get me there by plane", "book_flight"),
    ("sign me up for the first flight out tomorrow, i don't care where", "book_flight"),
    ("which airline has the best price to go home for thanksgiving", "flight_fare"),
    ("is flying cheaper on a tuesday than on a friday", "flight_fare"),
    ("is it a beach day or not", "weather"),
    ("will the fog clear up before my drive", "weather"),
    ("i could use some music while i cook", "play_music"),
    ("play that song they played at our wedding", "play_music"),
    ("i have an early train, make sure i don't oversleep", "set_alarm"),
    ("remind me with an alarm in forty minutes", "set_alarm"),
    ("it's our anniversary, find us a nice table for friday night", "restaurant_booking"),
    ("we need somewhere to eat for ten people after the game", "restaurant_booking"),
    ("how do people usually get from the airport to the old town", "ground_transport"),
    ("is there a limo service at the terminal", "ground_transport"),
    ("something came up and i can't travel next week, undo everything", "cancel_booking"),
    ("we're not coming tonight, please let the restaurant know", "cancel_booking"),
]


def make_intent(rng):
    def fill(template):
        c1, c2 = rng.sample(CITIES, 2)
        text = template.format(
            pls=rng.choice(PLEASE), c1=c1, c2=c2, c=rng.choice(CITIES), day=rng.choice(DAYS),
            clock=rng.choice(CLOCK), cabin=rng.choice(CABIN), genre=rng.choice(GENRES),
            playlist=rng.choice(PLAYLISTS), artist=rng.choice(ARTISTS),
            rest=rng.choice(RESTAURANTS), cuisine=rng.choice(CUISINES), party=rng.choice(PARTY),
            place=rng.choice(PLACES))
        text = text.replace(" for on ", " for ")  # "for on friday" -> "for friday"
        return re.sub(r"\ba (?=[aei]|o(?!ne))", "an ", text)  # "a italian" -> "an italian"

    # 8 single intents x (45 train, 11 dev) + 6 combos x (6-7 train, 2 dev) = 400 + 100 rows,
    # 10% of them with two intents.
    quotas = {intent: (45, 11) for intent in INTENT_TEMPLATES}
    quotas.update({combo: (7 if i < 4 else 6, 2) for i, combo in enumerate(MULTI_TEMPLATES)})
    groups = {}
    for label, templates in list(INTENT_TEMPLATES.items()) + list(MULTI_TEMPLATES.items()):
        pool = [clean(text) for text, intent in INTENT_HANDWRITTEN if intent == label]
        need = sum(quotas[label])
        i = 0
        while len(unique(pool)) < need:
            pool.append(clean(fill(templates[i % len(templates)])))  # every template in turn
            i += 1
        groups[label] = [{"text": text, "intent": label} for text in unique(pool)]
    train, dev = split_stratified(rng, groups, quotas)
    assert {r["intent"] for r in dev} <= {r["intent"] for r in train}
    return train, dev


# --------------------------------------------------------------------- pair similarity

# Scenes: subject + activity (verb + object) + place + time, each with synonyms.
SUBJECTS = [  # (variants, plural)
    (["a man", "a guy"], 0), (["a woman", "a lady"], 0), (["a young girl", "a little girl"], 0),
    (["a boy", "a young boy"], 0), (["two men", "two guys"], 1),
    (["an elderly woman", "an old woman"], 0), (["several friends", "a few friends"], 1),
    (["a teenager", "a teen"], 0), (["two children", "a couple of kids"], 1),
    (["a chef", "a cook"], 0),
]
ACTIVITIES = {  # verbs (synonyms), objects (each with synonyms), places (each with synonyms)
    "cooking": (["cooking", "preparing", "making"],
                [["a pot of soup", "some soup"], ["a plate of pasta", "some pasta"],
                 ["pancakes", "a stack of pancakes"], ["a vegetable curry", "a curry with vegetables"],
                 ["fried rice", "a pan of fried rice"]],
                [["in a small kitchen", "in a tiny kitchen"],
                 ["in a restaurant kitchen", "in the kitchen of a restaurant"],
                 ["over a campfire", "on a campfire"]]),
    "music": (["playing"],
              [["a guitar", "an acoustic guitar"], ["the piano", "a piano"], ["a violin", "the violin"],
               ["the drums", "a drum kit"], ["a trumpet", "the trumpet"]],
              [["on a stage", "on the stage"], ["in a park", "at a park"],
               ["on a busy street", "on a crowded street"], ["in a small bar", "in a little bar"]]),
    "sport": (["playing"],
              [["soccer", "football"], ["tennis", "a game of tennis"], ["basketball", "a game of basketball"],
               ["volleyball", "a game of volleyball"], ["chess", "a game of chess"]],
              [["in the park", "at the park"], ["on the beach", "at the beach"],
               ["in a gym", "in a gymnasium"], ["in the backyard", "in the back yard"]]),
    "reading": (["reading", "looking through"],
                [["a newspaper", "the newspaper"], ["a thick novel", "a long novel"],
                 ["a map", "a city map"], ["a letter", "a handwritten letter"], ["a menu", "the menu"]],
                [["on a bench", "on a park bench"], ["on a train", "aboard a train"],
                 ["in a cafe", "in a coffee shop"], ["by the window", "next to the window"]]),
    "cleaning": (["washing", "cleaning"],
                 [["a car", "the car"], ["the dishes", "a pile of dishes"], ["a window", "the window"],
                  ["a dog", "the dog"], ["the floor", "a dirty floor"]],
                 [["in the driveway", "on the driveway"], ["at home", "at the house"],
                  ["outside the house", "in front of the house"]]),
    "riding": (["riding"],
               [["a bicycle", "a bike"], ["a horse", "a brown horse"], ["a motorcycle", "a motorbike"],
                ["a skateboard", "a board"], ["a scooter", "an electric scooter"]],
               [["along the river", "beside the river"], ["through the city", "across the city"],
                ["on a dirt road", "along a dirt track"], ["down a steep hill", "down a steep slope"]]),
    "eating": (["eating", "having"],
               [["a sandwich", "a big sandwich"], ["an apple", "a red apple"],
                ["a bowl of cereal", "some cereal"], ["a slice of pizza", "a piece of pizza"],
                ["an ice cream cone", "an ice cream"]],
               [["at a table", "at the table"], ["on the sofa", "on the couch"],
                ["in the car", "inside the car"], ["on the front steps", "on the steps"]]),
    "feeding": (["feeding", "giving food to"],
                [["the ducks", "some ducks"], ["a cat", "the cat"], ["a baby", "an infant"],
                 ["the chickens", "some chickens"], ["a goat", "the goat"]],
                [["by the lake", "near the lake"], ["in the yard", "in the garden"],
                 ["on a farm", "at a farm"]]),
    "painting": (["painting"],
                 [["a fence", "the fence"], ["a portrait", "a picture of a face"],
                  ["a wall", "the wall"], ["a landscape", "a picture of the hills"],
                  ["a small boat", "a little boat"]],
                 [["in the garden", "in the yard"], ["in a studio", "in an art studio"],
                  ["by the sea", "near the sea"]]),
}
TIMES = [["in the morning", "during the morning"], ["in the evening", "during the evening"],
         ["at night", "late at night"], ["on a sunny afternoon", "on a bright afternoon"],
         ["on a rainy day", "on a wet day"], ["on a cold winter day", "on a freezing winter day"], None, None]
OTHER_TOPIC = [  # sentences from other topics, for unrelated pairs
    "The stock market closed higher on Tuesday.",
    "The city council approved a new budget for schools.",
    "Heavy rain caused flooding in several towns.",
    "The museum will be closed for repairs until June.",
    "Scientists found water ice near the moon's south pole.",
    "The airline cancelled dozens of flights because of the strike.",
    "Prices for fresh vegetables rose sharply last month.",
    "The new law takes effect at the start of next year.",
    "A small earthquake shook the coast early this morning.",
    "The team signed a new coach for the coming season.",
    "The library is extending its opening hours.",
    "Train services will be reduced over the holiday weekend.",
]
SIM_HANDWRITTEN = [
    ("The meeting was moved to Thursday.", "The meeting has been rescheduled for Thursday.", 4.8),
    ("The shop closes at six.", "The store shuts at 6 pm.", 4.6),
    ("She bought a new car last week.", "Last week she purchased a new car.", 5.0),
    ("The children are asleep upstairs.", "The kids are sleeping upstairs.", 4.8),
    ("He missed the bus this morning.", "He missed the train this morning.", 2.6),
    ("The soup needs more salt.", "The soup is too salty.", 1.8),
    ("The bridge will reopen in May.", "The bridge will reopen next spring.", 3.4),
    ("Our flight lands at noon.", "Our flight takes off at noon.", 2.2),
    ("A cat is sleeping on the sofa.", "A dog is sleeping on the sofa.", 2.4),
    ("The printer is out of paper.", "The printer has run out of paper.", 5.0),
    ("I forgot my umbrella at work.", "I left my umbrella at the office.", 4.4),
    ("The concert was sold out.", "There were no tickets left for the concert.", 4.6),
    ("The road is closed because of snow.", "Snow has made the road dangerous.", 3.0),
    ("My sister lives in Lisbon.", "My brother works in Madrid.", 0.8),
    ("The baby started walking today.", "The bank raised interest rates today.", 0.0),
    ("A man is tuning a guitar.", "A man is playing a guitar on stage.", 3.0),
    ("The team won the final.", "The team lost the final.", 1.6),
    ("Please turn off the lights.", "Could you switch the lights off?", 4.8),
    ("The train was ten minutes late.", "The train arrived ten minutes early.", 1.8),
    ("Tea is served in the garden.", "Tax forms are due in April.", 0.2),
]

SIM_BANDS = {  # edit -> (low, high) score range
    "same": (4.6, 5.0),
    "drop_detail": (3.8, 4.5),
    "change_detail": (3.0, 3.7),
    "change_subject": (2.4, 3.1),
    "change_object": (1.8, 2.6),
    "change_activity": (0.9, 1.7),
    "unrelated": (0.0, 0.7),
}


def make_pair_similarity(rng):
    def scene(subject=None, activity=None, obj=None, place=None, time=None):
        act = activity or rng.choice(list(ACTIVITIES))
        verbs, objects, places = ACTIVITIES[act]
        return {
            "subject": subject if subject is not None else rng.randrange(len(SUBJECTS)),
            "activity": act,
            "object": obj if obj is not None else rng.randrange(len(objects)),
            "place": place if place is not None else rng.randrange(len(places)),
            "time": time if time is not None else rng.randrange(len(TIMES)),
        }

    def render(s, drop=None):
        variants, plural = SUBJECTS[s["subject"]]
        verbs, objects, places = ACTIVITIES[s["activity"]]
        subj = rng.choice(variants)
        aux = "are" if plural else "is"
        verb = rng.choice(verbs)
        obj = rng.choice(objects[s["object"]])
        place = "" if drop == "place" else rng.choice(places[s["place"]])
        times = TIMES[s["time"]]
        time = "" if drop == "time" or times is None else rng.choice(times)
        order = rng.randrange(5)
        if order == 1 and time:
            text = f"{cap(time)}, {subj} {aux} {verb} {obj} {place}."
        elif order == 2 and place:
            text = f"{cap(place)}, {subj} {aux} {verb} {obj} {time}."
        elif order == 3:
            text = f"There {aux} {subj} {verb} {obj} {place} {time}."
        else:
            text = f"{cap(subj)} {aux} {verb} {obj} {place} {time}."
        return clean(text)

    def other(old, n):
        return rng.choice([i for i in range(n) if i != old])

    def pair(edit):
        a = scene()
        b = dict(a)
        verbs, objects, places = ACTIVITIES[a["activity"]]
        drop = None
        if edit == "drop_detail":
            drop = "time" if TIMES[a["time"]] is not None and rng.random() < 0.5 else "place"
        elif edit == "change_detail":
            if TIMES[a["time"]] is not None and rng.random() < 0.5:
                b["time"] = rng.choice([i for i, t in enumerate(TIMES)
                                        if t is not None and i != a["time"]])
            else:
                b["place"] = other(a["place"], len(places))
        elif edit == "change_subject":
            b["subject"] = other(a["subject"], len(SUBJECTS))
        elif edit == "change_object":
            b["object"] = other(a["object"], len(objects))
        elif edit == "change_activity":
            b = scene(subject=a["subject"], time=a["time"],
                      activity=rng.choice([k for k in ACTIVITIES if k != a["activity"]]))
        elif edit == "unrelated":
            if rng.random() < 0.4:
                s1, s2 = render(a), rng.choice(OTHER_TOPIC)
                return (s2, s1) if rng.random() < 0.5 else (s1, s2)
            b = scene(subject=other(a["subject"], len(SUBJECTS)),
                      activity=rng.choice([k for k in ACTIVITIES if k != a["activity"]]))
        s1, s2 = render(a), render(b, drop=drop)
        return (s2, s1) if rng.random() < 0.5 else (s1, s2)

    edits = list(SIM_BANDS)
    n_each = (N_TRAIN + N_DEV) // len(edits) + 1  # 72 per edit; trimmed below
    groups = {edit: [] for edit in edits}
    for s1, s2, score in SIM_HANDWRITTEN:
        edit = min(edits, key=lambda e: abs(sum(SIM_BANDS[e]) / 2 - score))
        groups[edit].append((s1, s2, f"{score:.1f}"))
    for edit in edits:
        lo, hi = SIM_BANDS[edit]
        while True:
            rows = unique(groups[edit], key=lambda r: (r[0], r[1]))
            if len(rows) >= n_each + 5:
                break
            s1, s2 = pair(edit)
            if s1 == s2:
                continue
            score = round(lo + (hi - lo) * rng.random(), 1)
            groups[edit].append((s1, s2, f"{score:.1f}"))
        groups[edit] = rows
    # 7 edits x (57 train, 14 dev), one more train row and two more dev rows of "same":
    # 400 + 100 rows.
    quotas = {edit: (57, 14) for edit in edits}
    quotas["same"] = (58, 16)
    return split_stratified(rng, groups, quotas)


# -------------------------------------------------------------------------- paraphrase

ORGS = [["the airline", "the carrier"], ["the city council", "the council"],
        ["the hospital", "the regional hospital"], ["the retailer", "the store chain"],
        ["the university", "the college"], ["the software company", "the tech firm"],
        ["the car factory", "the car plant"], ["the bank", "the lender"],
        ["the hotel group", "the hotel chain"], ["the publisher", "the publishing house"]]
PUBLIC_BODIES = ("the city council", "the hospital", "the university")  # no prices or profits
PUBLIC_ACTIONS = ("cut_jobs", "open_branches", "hire")
WHEN = ["in March", "last year", "on Monday", "this spring", "in the first quarter", "last month",
        "in 2019", "over the summer", "in October", "this week"]
ORG_ACTIONS = {  # paraphrase forms, opposite-meaning forms (sharing most words), negated forms
    "cut_jobs": (["{org} cut {n} jobs", "{org} eliminated {n} jobs", "{n} jobs were cut by {org}",
                  "{org} laid off {n} employees", "{org} got rid of {n} jobs"],
                 ["{org} created {n} jobs", "{org} added {n} jobs", "{n} jobs were created by {org}"],
                 ["{org} did not cut {n} jobs", "{org} denied it would cut {n} jobs"]),
    "raise_prices": (["{org} raised prices by {n} percent", "{org} increased its prices by {n} percent",
                      "prices at {org} went up by {n} percent", "{org} put its prices up {n} percent"],
                     ["{org} lowered prices by {n} percent", "{org} cut its prices by {n} percent",
                      "prices at {org} went down by {n} percent"],
                     ["{org} did not raise prices by {n} percent",
                      "{org} ruled out raising prices by {n} percent"]),
    "open_branches": (["{org} opened {n} new offices", "{org} launched {n} new offices",
                       "{n} new offices were opened by {org}", "{org} set up {n} new offices"],
                      ["{org} closed {n} offices", "{org} shut down {n} of its offices",
                       "{n} offices were closed by {org}"],
                      ["{org} has not opened {n} new offices",
                       "{org} decided against opening {n} new offices"]),
    "profit": (["{org} reported a profit of {n} million dollars",
                "{org} posted a {n} million dollar profit",
                "{org} made a profit of {n} million dollars",
                "{org} earned {n} million dollars in profit"],
               ["{org} reported a loss of {n} million dollars", "{org} posted a {n} million dollar loss",
                "{org} lost {n} million dollars"],
               ["{org} did not make a profit of {n} million dollars",
                "{org} failed to reach a profit of {n} million dollars"]),
    "hire": (["{org} hired {n} new staff", "{org} took on {n} new employees",
              "{n} new employees were hired by {org}", "{org} recruited {n} new workers"],
             ["{org} fired {n} staff", "{org} let {n} employees go", "{n} employees were fired by {org}"],
             ["{org} has not hired {n} new staff", "{org} froze plans to hire {n} new staff"]),
}
ORG_NUMBERS = {  # plausible amounts for each action
    "cut_jobs": ["40", "75", "150", "200", "300", "450", "1,200", "2,500"],
    "raise_prices": ["2", "3", "4", "5", "8", "10", "12", "15"],
    "open_branches": ["3", "4", "5", "8", "12", "15", "20", "40"],
    "profit": ["3", "8", "12", "40", "75", "150", "200", "450"],
    "hire": ["12", "40", "75", "150", "200", "300", "450", "900"],
}

PEOPLE = ["the coach", "the mayor", "the senator", "the manager", "the reporter", "the new teacher",
          "the landlord", "the goalkeeper", "the head chef", "my neighbor", "the doctor",
          "Anna", "David", "Priya", "Marcus", "Elena", "Tom", "the captain", "the director"]
PERSON_ACTIONS = {  # paraphrase forms of "a <verb> b"; negated forms
    "thank": (["{a} thanked {b}", "{b} was thanked by {a}", "{a} expressed gratitude to {b}",
               "{a} said thank you to {b}"], ["{a} did not thank {b}", "{a} never thanked {b}"]),
    "criticize": (["{a} criticized {b}", "{b} was criticized by {a}", "{a} found fault with {b}",
                   "{b} came under criticism from {a}"],
                  ["{a} did not criticize {b}", "{a} refused to criticize {b}"]),
    "interview": (["{a} interviewed {b}", "{b} was interviewed by {a}",
                   "{a} conducted an interview with {b}", "{b} gave an interview to {a}"],
                  ["{a} did not interview {b}", "{a} never got to interview {b}"]),
    "call": (["{a} called {b}", "{a} phoned {b}", "{b} got a phone call from {a}",
              "{b} received a call from {a}"], ["{a} did not call {b}", "{a} never phoned {b}"]),
    "hire": (["{a} hired {b}", "{b} was hired by {a}", "{a} gave {b} a job", "{a} took on {b}"],
             ["{a} did not hire {b}", "{a} turned down {b}"]),
    "warn": (["{a} warned {b}", "{b} was warned by {a}", "{a} gave {b} a warning",
              "{b} received a warning from {a}"], ["{a} did not warn {b}", "{a} never warned {b}"]),
    "praise": (["{a} praised {b}", "{b} was praised by {a}", "{a} spoke highly of {b}",
                "{b} won praise from {a}"], ["{a} did not praise {b}", "{a} refused to praise {b}"]),
    "beat": (["{a} beat {b} at chess", "{b} lost to {a} at chess", "{a} defeated {b} at chess",
              "{a} won a game of chess against {b}"],
             ["{a} did not beat {b} at chess", "{a} failed to beat {b} at chess"]),
    "email": (["{a} sent {b} an email", "{a} emailed {b}", "{b} received an email from {a}",
               "{b} got an email from {a}"], ["{a} did not email {b}", "{a} never emailed {b}"]),
}
CONTEXT = ["", "", "on Monday", "after the meeting", "last week", "during the press conference",
           "before the match", "yesterday", "in front of everyone"]

CITIES_CAP = ["Boston", "Denver", "Lyon", "Leeds", "Porto", "Seattle", "Glasgow", "Austin",
              "Bristol", "Dallas", "Vienna", "Chicago"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
HOURS = ["7:15", "8:40", "9:05", "10:30", "11:50", "12:20", "14:10", "16:45", "18:30", "21:00"]
SMALL = ["two", "three", "four", "five", "six", "seven", "ten"]
NAMES = ["Anna", "Tom", "Priya", "Marcus", "Elena", "David", "Sofia", "Ben", "Kenji", "Laura"]
THINGS = ["trip", "exhibition", "conference", "school play", "concert", "festival", "tour",
          "wedding", "workshop", "charity dinner"]
ADJ_PAIRS = [("excellent", "poor"), ("too expensive", "good value"), ("a success", "a failure"),
             ("well organized", "badly organized"), ("worth the money", "a waste of money"),
             ("better than last year", "worse than last year")]

PARA_HANDWRITTEN = [
    ("Can you tell me where the station is?", "Where is the station, please?", "paraphrase"),
    ("I have lived here for ten years.", "I moved here ten years ago.", "paraphrase"),
    ("The shop is closed on Sundays.", "On Sundays the shop does not open.", "paraphrase"),
    ("He is too tired to drive.", "He is so tired that he should not drive.", "paraphrase"),
    ("She rarely eats meat.", "She hardly ever eats meat.", "paraphrase"),
    ("The lecture was cancelled.", "The lecture will not take place.", "paraphrase"),
    ("Nobody came to the party.", "The party had no guests at all.", "paraphrase"),
    ("Turn left after the bridge.", "After the bridge, take a left.", "paraphrase"),
    ("It takes an hour to get there by bus.", "The bus ride there lasts about an hour.", "paraphrase"),
    ("The report is due on Friday.", "The report has to be handed in by Friday.", "paraphrase"),
    ("Tickets are free for children under five.", "Children under five travel for free.", "paraphrase"),
    ("Could you speak a little more slowly?", "Would you mind talking a bit slower?", "paraphrase"),
    ("The dog chased the cat.", "The cat chased the dog.", "different"),
    ("I almost missed the train.", "I missed the train.", "different"),
    ("The shop is closed on Sundays.", "The shop is only open on Sundays.", "different"),
    ("She left before the speech.", "She left after the speech.", "different"),
    ("He forgot to lock the door.", "He forgot that he had locked the door.", "different"),
    ("The price includes breakfast.", "The price does not include breakfast.", "different"),
    ("Most of the students passed.", "Few of the students passed.", "different"),
    ("You can park here after six.", "You cannot park here after six.", "different"),
    ("The flight to Rome was delayed.", "The flight from Rome was delayed.", "different"),
    ("We need three more chairs.", "We have three chairs too many.", "different"),
]


def make_paraphrase(rng):
    def sentence(text):
        return clean(cap(text) + ".")

    def with_when(core, when):
        return f"{when}, {core}" if rng.random() < 0.35 else f"{core} {when}"

    def org_frame():
        action = rng.choice(list(ORG_ACTIONS))
        orgs = ORGS if action in PUBLIC_ACTIONS else [o for o in ORGS if o[0] not in PUBLIC_BODIES]
        org = rng.choice(orgs)
        numbers = ORG_NUMBERS[action]
        n = rng.choice(numbers)
        when = rng.choice(WHEN)
        para, opposite, negated = ORG_ACTIONS[action]
        t1, t2 = rng.sample(para, 2)
        s1 = sentence(with_when(t1.format(org=rng.choice(org), n=n), when))
        s_para = sentence(with_when(t2.format(org=rng.choice(org), n=n), when))
        kind = rng.randrange(5)
        t = t1 if rng.random() < 0.6 else t2  # often the very same wording, one change
        if kind == 0:
            n2 = rng.choice([x for x in numbers if x != n])
            s_diff = sentence(with_when(t.format(org=rng.choice(org), n=n2), when))
        elif kind == 1:
            s_diff = sentence(with_when(rng.choice(opposite).format(org=rng.choice(org), n=n), when))
        elif kind == 2:
            s_diff = sentence(with_when(rng.choice(negated).format(org=rng.choice(org), n=n), when))
        elif kind == 3:
            when2 = rng.choice([w for w in WHEN if w != when])
            s_diff = sentence(with_when(t.format(org=rng.choice(org), n=n), when2))
        else:
            org2 = rng.choice([o for o in orgs if o is not org])
            s_diff = sentence(with_when(t.format(org=rng.choice(org2), n=n), when))
        return s1, s_para, s_diff

    def person_frame():
        a, b = rng.sample(PEOPLE, 2)
        action = rng.choice(list(PERSON_ACTIONS))
        para, negated = PERSON_ACTIONS[action]
        ctx = rng.choice(CONTEXT)
        t1, t2 = rng.sample(para, 2)

        def fmt(t, a, b, ctx=ctx):
            return sentence(f"{t.format(a=a, b=b)} {ctx}")

        s1, s_para = fmt(t1, a, b), fmt(t2, a, b)
        kind = rng.randrange(4)
        if kind == 0:  # swapped roles, same or other wording
            s_diff = fmt(rng.choice([t1, t2]), b, a)
        elif kind == 1:
            s_diff = fmt(rng.choice(negated), a, b)
        elif kind == 2:  # another action, same people
            other = PERSON_ACTIONS[rng.choice([k for k in PERSON_ACTIONS if k != action])][0]
            s_diff = fmt(rng.choice(other), a, b)
        else:  # another person
            c = rng.choice([p for p in PEOPLE if p not in (a, b)])
            s_diff = fmt(t1, a, c) if rng.random() < 0.5 else fmt(t1, c, b)
        return s1, s_para, s_diff

    def fact_frame():
        kind = rng.randrange(6)
        if kind == 0:  # train times
            city, hour, day = rng.choice(CITIES_CAP), rng.choice(HOURS), rng.choice(WEEKDAYS)
            forms = ["the train to {c} leaves at {h} on {d}", "the {c} train departs at {h} on {d}",
                     "on {d}, the train for {c} sets off at {h}",
                     "the train to {c} is scheduled to leave at {h} on {d}"]
            t1, t2 = rng.sample(forms, 2)
            s1, s_para = (sentence(t.format(c=city, h=hour, d=day)) for t in (t1, t2))
            d = rng.randrange(4)
            if d == 0:
                s_diff = sentence(t1.format(c=city, h=rng.choice([h for h in HOURS if h != hour]), d=day))
            elif d == 1:
                s_diff = sentence(f"the train from {city} arrives at {hour} on {day}")
            elif d == 2:
                s_diff = sentence(t1.format(c=rng.choice([c for c in CITIES_CAP if c != city]),
                                            h=hour, d=day))
            else:
                s_diff = sentence(f"the train to {city} does not run on {day}")
            return s1, s_para, s_diff
        if kind == 1:  # ages: older / younger
            a, b = rng.sample(NAMES, 2)
            n = rng.choice(SMALL)
            forms = [f"{a} is {n} years older than {b}", f"{b} is {n} years younger than {a}",
                     f"{a} was born {n} years before {b}", f"{b} was born {n} years after {a}"]
            s1, s_para = (sentence(t) for t in rng.sample(forms, 2))
            d = rng.randrange(3)
            if d == 0:
                s_diff = sentence(f"{b} is {n} years older than {a}")
            elif d == 1:
                s_diff = sentence(f"{a} is {n} years younger than {b}")
            else:
                s_diff = sentence(f"{a} is {rng.choice([x for x in SMALL if x != n])} years older than {b}")
            return s1, s_para, s_diff
        if kind == 2:  # meetings
            day = rng.choice(WEEKDAYS)
            event = rng.choice(["the meeting", "the interview", "the team dinner", "the exam",
                                "the board meeting", "the dentist appointment"])
            forms = [f"{event} has been moved to {day}", f"{event} was rescheduled for {day}",
                     f"{event} will now take place on {day}", f"we have pushed {event} to {day}"]
            s1, s_para = (sentence(t) for t in rng.sample(forms, 2))
            d = rng.randrange(3)
            if d == 0:
                s_diff = sentence(f"{event} has been moved from {day}")
            elif d == 1:
                day2 = rng.choice([x for x in WEEKDAYS if x != day])
                s_diff = sentence(f"{event} has been moved to {day2}")
            else:
                s_diff = sentence(f"{event} on {day} has been cancelled")
            return s1, s_para, s_diff
        if kind == 3:  # delivery
            n = rng.choice(SMALL)
            item = rng.choice(["the package", "your order", "the new sofa", "the replacement part",
                               "the parcel"])
            forms = [f"{item} should arrive in {n} days", f"{item} will be delivered within {n} days",
                     f"you should receive {item} in {n} days", f"delivery of {item} takes {n} days"]
            s1, s_para = (sentence(t) for t in rng.sample(forms, 2))
            d = rng.randrange(3)
            if d == 0:
                s_diff = sentence(f"{item} should arrive in {rng.choice([x for x in SMALL if x != n])} days")
            elif d == 1:
                s_diff = sentence(f"{item} was sent {n} days ago")
            else:
                s_diff = sentence(f"{item} will not arrive for another {n} weeks")
            return s1, s_para, s_diff
        if kind == 4:  # prices
            n = rng.choice(["60", "85", "120", "95", "150", "210"])
            place = rng.choice(["the hotel", "the guesthouse", "the cabin", "the apartment", "the inn"])
            forms = [f"{place} costs {n} dollars a night", f"a night at {place} costs {n} dollars",
                     f"{place} charges {n} dollars per night", f"one night at {place} is {n} dollars"]
            s1, s_para = (sentence(t) for t in rng.sample(forms, 2))
            d = rng.randrange(3)
            if d == 0:
                n2 = rng.choice(["45", "70", "99", "130", "300"])
                s_diff = sentence(f"{place} costs {n2} dollars a night")
            elif d == 1:
                s_diff = sentence(f"{place} costs {n} dollars a week")
            else:
                s_diff = sentence(f"breakfast at {place} costs {n} dollars")
            return s1, s_para, s_diff
        # opinions
        who = rng.choice(NAMES + ["the critic", "my boss", "the inspector", "our guide"])
        thing = rng.choice(THINGS)
        good, bad = rng.choice(ADJ_PAIRS)
        adj, anti = (good, bad) if rng.random() < 0.5 else (bad, good)
        forms = [f"{who} said the {thing} was {adj}", f"{who} described the {thing} as {adj}",
                 f"according to {who}, the {thing} was {adj}", f"in the view of {who}, the {thing} was {adj}"]
        s1, s_para = (sentence(t) for t in rng.sample(forms, 2))
        d = rng.randrange(3)
        if d == 0:
            s_diff = sentence(f"{who} said the {thing} was not {adj}")
        elif d == 1:
            s_diff = sentence(f"{who} said the {thing} was {anti}")
        else:
            s_diff = sentence(f"{who} said the {rng.choice([t for t in THINGS if t != thing])} was {adj}")
        return s1, s_para, s_diff

    frames = [org_frame, person_frame, fact_frame]
    n_para, n_diff = 300, 200  # 60 / 40, of 500 rows
    groups = {"paraphrase": [], "different": []}
    for s1, s2, label in PARA_HANDWRITTEN:
        groups[label].append((s1, s2, label))
    while True:
        para = unique(groups["paraphrase"], key=lambda r: (r[0], r[1]))
        diff = unique(groups["different"], key=lambda r: (r[0], r[1]))
        if len(para) >= n_para + 5 and len(diff) >= n_diff + 5:
            break
        s1, s_para, s_diff = rng.choice(frames)()
        # A base sentence gives either a paraphrase pair or a "different" pair, not both,
        # so the model must read the second sentence; order inside the pair is random.
        if rng.random() < 0.6:
            label, s2 = "paraphrase", s_para
        else:
            label, s2 = "different", s_diff
        if s1 == s2:
            continue
        if rng.random() < 0.5:
            s1, s2 = s2, s1
        groups[label].append((s1, s2, label))
    groups = {"paraphrase": para, "different": diff}
    quotas = {"paraphrase": (240, 60), "different": (160, 40)}
    return split_stratified(rng, groups, quotas)


# -------------------------------------------------------------------------------- main

def main():
    train, dev = make_sentiment(random.Random(101))
    for name, rows in (("train", train), ("dev", dev)):
        write_tsv(OUT / "sentiment" / f"{name}.tsv", ["sentence", "label"], rows)

    train, dev = make_intent(random.Random(202))
    for name, rows in (("train", train), ("dev", dev)):
        write_jsonl(OUT / "intent" / f"{name}.jsonl", rows)

    train, dev = make_pair_similarity(random.Random(303))
    for name, rows in (("train", train), ("dev", dev)):
        write_tsv(OUT / "pair_similarity" / f"{name}.tsv", ["sentence1", "sentence2", "score"], rows)

    train, dev = make_paraphrase(random.Random(404))
    for name, rows in (("train", train), ("dev", dev)):
        write_tsv(OUT / "paraphrase" / f"{name}.tsv", ["sentence1", "sentence2", "label"], rows)

    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT.relative_to(ROOT)} ({total / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
