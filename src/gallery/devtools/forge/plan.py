"""What to forge: usernames, descriptions, comments, and who does what to which image.

Plans are plain data drawn from one ``random.Random``, in a fixed order, so a
seed reproduces a whole run; nothing here touches the database or storage
(``store`` carries the plans out). The word lists are small on purpose: they
only have to make the site look lived in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from gallery.devtools.forge.scenes import SCENE_KINDS
from gallery.services.accounts import check_email, check_username

DEFAULT_PASSWORD = "gallery-forge"  # noqa: S105 - printed for whoever forged the data
EMAIL_DOMAIN = "example.com"


@dataclass(frozen=True)
class ImagePlan:
    """An image to draw (``kind`` and ``seed`` for ``scenes.render_photo``) and post."""

    kind: str
    seed: int
    author_id: int
    description: str


@dataclass(frozen=True)
class CommentPlan:
    """A comment to post."""

    image_id: int
    author_id: int
    content: str


# (actor id, target id): a like (user, image) or a follow (follower, followed user).
Pair = tuple[int, int]


# --- users ---------------------------------------------------------------------------------------

FIRST_NAMES = (
    "anna", "ben", "carla", "david", "elena", "felix", "greta", "hugo", "ines", "jonas",
    "karin", "leo", "maya", "nils", "olga", "paul", "quinn", "rosa", "sami", "tara",
    "umar", "vera", "will", "xenia", "yusuf", "zoe", "amir", "bea", "chen", "dara",
    "emil", "fatima", "gil", "hana", "ivan", "jade", "kofi", "lina", "marco", "noor",
)  # fmt: skip
LAST_NAMES = (
    "berg", "costa", "dietz", "evans", "fischer", "garcia", "hansen", "ito", "jensen",
    "kowalski", "lund", "meyer", "novak", "okafor", "park", "quist", "rossi", "silva",
    "tanaka", "ueda", "varga", "weber", "young", "zimmer",
)  # fmt: skip
ADJECTIVES = (
    "amber", "blue", "bright", "calm", "dusty", "early", "foggy", "golden", "hazy", "idle",
    "late", "misty", "quiet", "rainy", "silver", "slow", "sunny", "wild", "windy", "young",
)  # fmt: skip
NOUNS = (
    "aperture", "birch", "canyon", "comet", "dune", "fern", "fjord", "fox", "harbor",
    "heron", "lens", "meadow", "moth", "orchid", "otter", "pixel", "shutter", "summit",
    "tide", "wanderer",
)  # fmt: skip


def make_username(rng: random.Random) -> str:
    """A plausible username in one of a few styles people use (not checked for being free)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
    pattern = rng.randrange(6)
    if pattern == 0:
        name = f"{first}.{last}"
    elif pattern == 1:
        name = f"{first}_{noun}"
    elif pattern == 2:
        name = f"{adjective}{noun.capitalize()}"
    elif pattern == 3:
        name = f"{first}{rng.randint(1, 99)}"
    elif pattern == 4:
        name = f"{first.capitalize()}{last.capitalize()}"
    else:
        name = f"{noun}-{first}"
    return check_username(name[:30])


def email_for(username: str) -> str:
    """The forged user's address: derived from the name, so it needs no list of its own."""
    return check_email(f"{username.lower()}@{EMAIL_DOMAIN}")


# --- descriptions and comments -------------------------------------------------------------------

SUBJECTS = {
    "mountains": ("the ridge at first light", "the valley from the pass", "three peaks, one haze",
                  "the lake below the summit", "a long hike, worth every step"),
    "sea": ("the sun going down over the bay", "low tide, warm light", "the last swim of summer",
            "the harbour at dusk", "an evening by the water"),
    "night": ("the stars above the hut", "a clear night, finally", "moonrise over the hills",
              "the sky at 2 a.m.", "no light pollution here"),
    "city": ("the skyline at blue hour", "the city lighting up", "rooftops after the rain",
             "downtown from the bridge", "the view from the 30th floor"),
    "hills": ("clouds rolling over the fields", "green hills after a week of rain",
              "a quiet morning in the countryside", "the walk home", "spring, at last"),
    "dunes": ("the dunes at noon", "wind patterns in the sand", "the desert before sunset",
              "sand as far as I could see", "shadows on the dunes"),
    "bokeh": ("city lights, out of focus", "festival lights", "lights from the tram window",
              "playing with a fast lens", "blurry on purpose"),
    "shapes": ("colour study no. 7", "shapes and light", "a little abstract experiment",
               "playing with colours", "something different today"),
}  # fmt: skip
HASHTAGS = {
    "mountains": ("#mountains", "#landscape", "#hiking", "#outdoors", "#alps"),
    "sea": ("#sunset", "#sea", "#ocean", "#goldenhour", "#beach"),
    "night": ("#night", "#stars", "#astrophotography", "#moon", "#longexposure"),
    "city": ("#city", "#skyline", "#urban", "#bluehour", "#architecture"),
    "hills": ("#countryside", "#clouds", "#spring", "#green", "#nature"),
    "dunes": ("#desert", "#dunes", "#travel", "#sand", "#minimal"),
    "bokeh": ("#bokeh", "#lights", "#abstract", "#blur", "#nightlife"),
    "shapes": ("#abstract", "#art", "#colors", "#minimal", "#design"),
}
GENERAL_HASHTAGS = ("#photooftheday", "#nofilter", "#weekend", "#gallery", "#shotoncamera")
OPENERS = ("", "", "", "Finally: ", "Another one of ", "Throwback to ", "No filter: ",
           "Can't get enough of ", "Found ", "Sunday walk, ")  # fmt: skip
ENDINGS = (".", ".", "!", " :)", "…", ". What a day.", ". More soon.")

COMMENTS = (
    "Wow!", "Love the colours.", "Where is this?", "Stunning 😍", "Great composition!",
    "This is beautiful.", "I need to go there.", "The light is perfect.", "So calm.",
    "Gorgeous shot!", "What lens did you use?", "Amazing 🔥", "Wallpaper material.",
    "That sky though!", "Beautiful place.", "Nice one!", "Love this.", "Incredible detail.",
    "Such a mood.", "Miss this place.", "How early did you get up for this?", "Perfect timing.",
    "👏👏👏", "Frame it!", "The colours are unreal.", "Is this edited? Looks so natural.",
    "One of your best.", "Breathtaking.", "Makes me want to travel again.", "Simply lovely.",
)  # fmt: skip
COMMENT_TAILS = ("", "", "", " Thanks for sharing.", " 🙌", " Keep them coming!",
                 " Reminds me of last summer.")  # fmt: skip


def make_description(rng: random.Random, kind: str) -> str:
    """A caption that fits the scene, sometimes empty, often with hashtags (tags get used)."""
    if rng.random() < 0.08:
        return ""
    subject = rng.choice(SUBJECTS[kind])
    opener = rng.choice(OPENERS)
    text = f"{opener}{subject}" if opener else subject[0].upper() + subject[1:]
    text += rng.choice(ENDINGS)
    if rng.random() < 0.6:
        tags = rng.sample(HASHTAGS[kind], rng.randint(1, 3))
        if rng.random() < 0.3:
            tags.append(rng.choice(GENERAL_HASHTAGS))
        text += " " + " ".join(tags)
    return text


def make_comment(rng: random.Random) -> str:
    """A short, friendly comment of the kind photo sites are full of."""
    return rng.choice(COMMENTS) + rng.choice(COMMENT_TAILS)


# --- who does what -------------------------------------------------------------------------------


def plan_images(rng: random.Random, author_ids: Sequence[int], count: int) -> list[ImagePlan]:
    """``count`` images of random kinds by random authors, each with its own drawing seed."""
    plans = []
    for _ in range(count):
        kind = rng.choice(SCENE_KINDS)
        plans.append(
            ImagePlan(
                kind=kind,
                seed=rng.getrandbits(63),
                author_id=rng.choice(author_ids),
                description=make_description(rng, kind),
            )
        )
    return plans


def plan_comments(
    rng: random.Random, author_ids: Sequence[int], image_ids: Sequence[int], count: int
) -> list[CommentPlan]:
    """Comments on random images, some images much more popular than others."""
    popularity = [rng.expovariate(1.0) for _ in image_ids]
    targets = rng.choices(image_ids, weights=popularity, k=count)
    return [
        CommentPlan(image_id=image_id, author_id=rng.choice(author_ids), content=make_comment(rng))
        for image_id in targets
    ]


def plan_pairs(
    rng: random.Random,
    actor_ids: Sequence[int],
    target_ids: Sequence[int],
    count: int,
    *,
    allow_same: bool,
) -> list[Pair]:
    """Up to ``count`` distinct (actor, target) pairs, popular targets more often.

    For likes (actor likes image) and follows (actor follows user, never
    themselves: ``allow_same=False``).
    """
    possible = len(actor_ids) * len(target_ids)
    if not allow_same:
        possible -= len(set(actor_ids) & set(target_ids))
    wanted = min(count, possible)
    popularity = [rng.expovariate(1.0) + 0.05 for _ in target_ids]
    pairs: dict[Pair, None] = {}  # ordered and distinct
    # Drawing with weights repeats pairs; past a few rounds the rest are taken in order.
    for _ in range(4):
        for target in rng.choices(target_ids, weights=popularity, k=wanted * 2):
            actor = rng.choice(actor_ids)
            if (allow_same or actor != target) and len(pairs) < wanted:
                pairs[(actor, target)] = None
    for actor in actor_ids:
        for target in target_ids:
            if len(pairs) >= wanted:
                break
            if allow_same or actor != target:
                pairs.setdefault((actor, target), None)
    return list(pairs)
