"""Regenerate the bundled demo pool in tools/demo_pool/ (folder layout, five small datasets).

    .venv/bin/python scripts/make_demo_pool.py [--out tools/demo_pool]

Everything is deterministic (fixed seed, no timestamps), so re-running reproduces the committed files:
- shapes: 64 PNGs (160x160) of one filled shape drawn with OpenCV on a plain or lightly textured
  background; 8 shape names, 8 images each, random colour, size, position and rotation.
- clocks: 48 PNGs (200x200) of analogue clock faces drawn with OpenCV showing every whole and half
  hour in two face styles (numerals, ticks only).
- everyday-nli: 16 everyday premises, each with one entailed, one neutral and one contradicting
  hypothesis (48 rows, CSV), written by hand for this pool.
- daily-dialogues: 40 two-speaker dialogues of 3-6 turns with the natural next line (JSONL).
- general-knowledge-mcq: 40 four-option questions with the answer letter balanced over A-D (Parquet).
All content is released as CC0-1.0.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20240611
OUT = Path(__file__).resolve().parents[1] / "tools" / "demo_pool"
GENERATED = "CC0-1.0 (generated for Benchmark Agent)"
WRITTEN = "CC0-1.0 (written for Benchmark Agent)"
SOURCE = "scripts/make_demo_pool.py"

# ---------------------------------------------------------------------------------------------- shapes
SHAPES = ["circle", "square", "triangle", "pentagon", "hexagon", "star", "ellipse", "cross"]
# BGR, saturated or dark so every shape stands out on a light background
PALETTE = [(40, 40, 210), (190, 90, 20), (40, 150, 40), (0, 130, 245), (150, 40, 140),
           (50, 50, 50), (140, 130, 0), (30, 90, 150)]


def _background(rng: random.Random, size: int) -> np.ndarray:
    base = np.array([rng.randint(215, 250) for _ in range(3)], dtype=np.int16)
    img = np.empty((size, size, 3), np.int16)
    img[:] = base
    texture = rng.choice(["plain", "stripes", "grid", "gradient"])
    step = rng.randint(12, 22)
    if texture == "stripes":
        for x in range(0, size * 2, step):
            cv2.line(img, (x, 0), (x - size, size), [int(c) - 14 for c in base], 2)
    elif texture == "grid":
        for x in range(0, size, step):
            cv2.line(img, (x, 0), (x, size), [int(c) - 12 for c in base], 1)
            cv2.line(img, (0, x), (size, x), [int(c) - 12 for c in base], 1)
    elif texture == "gradient":
        img = img - (np.linspace(0, 28, size, dtype=np.int16)[:, None, None])
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(cx: float, cy: float, radii: list[float], start: float) -> np.ndarray:
    n = len(radii)
    pts = [(cx + r * math.cos(start + 2 * math.pi * k / n), cy + r * math.sin(start + 2 * math.pi * k / n))
           for k, r in enumerate(radii)]
    return np.array(pts, np.float64)


def _rotate(points: list[tuple[float, float]], cx: float, cy: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([(cx + x * c - y * s, cy + x * s + y * c) for x, y in points], np.float64)


def draw_shape(rng: random.Random, shape: str, size: int = 160) -> np.ndarray:
    img = _background(rng, size)
    colour = rng.choice(PALETTE)
    r = rng.randint(30, 52)
    cx, cy = rng.randint(r + 6, size - r - 6), rng.randint(r + 6, size - r - 6)
    tilt = math.radians(rng.uniform(-20, 20))  # squares and crosses stay upright enough to keep their names
    if shape == "circle":
        cv2.circle(img, (cx, cy), r, colour, -1, cv2.LINE_AA)
        return img
    if shape == "ellipse":
        axes = (r, int(r * rng.uniform(0.45, 0.6)))
        cv2.ellipse(img, (cx, cy), axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA)
        return img
    if shape == "square":
        pts = _polygon(cx, cy, [r] * 4, math.pi / 4 + tilt)
    elif shape == "triangle":
        pts = _polygon(cx, cy, [r] * 3, -math.pi / 2 + math.radians(rng.uniform(-30, 30)))
    elif shape == "pentagon":
        pts = _polygon(cx, cy, [r] * 5, -math.pi / 2 + tilt)
    elif shape == "hexagon":
        pts = _polygon(cx, cy, [r] * 6, tilt)
    elif shape == "star":
        pts = _polygon(cx, cy, [r, r * 0.42] * 5, -math.pi / 2 + tilt)
    else:  # cross: a plus sign with arms a third of its width
        a, w = r, r * 0.34
        plus = [(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a), (-w, w), (-a, w),
                (-a, -w), (-w, -w)]
        pts = _rotate(plus, cx, cy, tilt)
    cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
    return img


def make_shapes(out: Path, rng: random.Random) -> None:
    order = SHAPES * 8
    rng.shuffle(order)
    rows = []
    for k, shape in enumerate(order):
        name = f"images/shape_{k:03d}.png"
        _png(out / name, draw_shape(rng, shape))
        rows.append({"id": f"shape_{k:03d}", "image": name, "question": "Which shape is shown in the picture?",
                     "label": shape})
    _jsonl(out / "data.jsonl", rows)
    _card(out, {
        "name": "shapes",
        "task": "Shape recognition",
        "task_type": "image classification",
        "skill": "Object Recognition",
        "domain": ["Geometry", "General"],
        "description": "Name the single filled geometric shape (circle, square, triangle, pentagon, hexagon, "
                       "star, ellipse or cross) drawn on a plain or lightly textured background.",
        "license": GENERATED,
        "answer_kind": "label",
    })


# ---------------------------------------------------------------------------------------------- clocks
def draw_clock(rng: random.Random, hour: int, minute: int, style: int, size: int = 200) -> np.ndarray:
    bg = tuple(rng.randint(200, 240) for _ in range(3))
    face = (rng.randint(238, 252), rng.randint(238, 252), rng.randint(238, 252))
    ink = rng.choice([(30, 30, 30), (70, 40, 20), (20, 40, 90)])
    img = np.full((size, size, 3), bg, np.uint8)
    c, radius = size // 2, size // 2 - 10
    cv2.circle(img, (c, c), radius, face, -1, cv2.LINE_AA)
    cv2.circle(img, (c, c), radius, ink, 4, cv2.LINE_AA)
    for k in range(60):  # minute ticks, longer at the hours
        a = math.radians(k * 6 - 90)
        long = k % 5 == 0
        if style == 0 and not long:
            continue
        inner = radius - (14 if long else 6)
        p1 = (int(c + inner * math.cos(a)), int(c + inner * math.sin(a)))
        p2 = (int(c + (radius - 3) * math.cos(a)), int(c + (radius - 3) * math.sin(a)))
        cv2.line(img, p1, p2, ink, 3 if long and k % 15 == 0 else 2 if long else 1, cv2.LINE_AA)
    if style == 0:
        for n in range(1, 13):
            a = math.radians(n * 30 - 90)
            label = str(n)
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 2)
            x, y = c + (radius - 30) * math.cos(a), c + (radius - 30) * math.sin(a)
            cv2.putText(img, label, (int(x - tw / 2), int(y + th / 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.55, ink, 2,
                        cv2.LINE_AA)
    hand = rng.choice([(20, 20, 180), ink])
    for angle, length, width in (((hour % 12) * 30 + minute * 0.5, radius * 0.5, 7), (minute * 6, radius * 0.8, 3)):
        a = math.radians(angle - 90)
        cv2.line(img, (c, c), (int(c + length * math.cos(a)), int(c + length * math.sin(a))), hand, width,
                 cv2.LINE_AA)
    cv2.circle(img, (c, c), 6, hand, -1, cv2.LINE_AA)
    return img


def make_clocks(out: Path, rng: random.Random) -> None:
    times = [(h, m, style) for style in (0, 1) for h in range(1, 13) for m in (0, 30)]
    rng.shuffle(times)
    rows = []
    for k, (hour, minute, style) in enumerate(times):
        name = f"images/clock_{k:03d}.png"
        _png(out / name, draw_clock(rng, hour, minute, style))
        rows.append({"id": f"clock_{k:03d}", "image": name, "question": "What time does the clock show?",
                     "label": f"{hour}:{minute:02d}"})
    _jsonl(out / "data.jsonl", rows)
    _card(out, {
        "name": "clocks",
        "task": "Analogue clock reading",
        "task_type": "image question answering",
        "skill": "Visual Reasoning",
        "domain": ["Time", "General"],
        "description": "Read the time from an analogue clock face showing a whole or half hour (labels like "
                       "'3:00' or '3:30', 12-hour clock); faces have numerals or ticks only.",
        "license": GENERATED,
        "answer_kind": "label",
    })


# ---------------------------------------------------------------------------------------------- NLI
# (premise, entailed, neutral, contradicting)
NLI = [
    ("A woman is slicing tomatoes on a wooden cutting board in a kitchen.",
     "Someone is preparing food.", "The woman is making a salad for her family.",
     "The woman is asleep in her bedroom."),
    ("Two children are building a sandcastle at the edge of the sea.",
     "Kids are playing on a beach.", "The children are brother and sister.",
     "The children are skiing down a snowy mountain."),
    ("A man in a suit is running to catch a bus that is pulling away from the stop.",
     "A man is hurrying.", "The man is late for a job interview.",
     "The man is sitting calmly on the bus reading a newspaper."),
    ("The library closes at six o'clock on Saturdays.",
     "At eight o'clock on a Saturday evening the library is closed.", "The library opens at nine o'clock on Saturdays.",
     "The library stays open until midnight on Saturdays."),
    ("A dog is fetching a red ball that was thrown across a grassy park.",
     "A dog is playing in a park.", "The dog belongs to the person who threw the ball.",
     "The dog is sleeping on a sofa indoors."),
    ("Heavy rain has been falling all morning, and the streets are flooded.",
     "The streets are wet.", "Schools in the town have closed because of the weather.",
     "It has been a dry, sunny morning."),
    ("A cyclist wearing a yellow helmet is riding up a steep hill.",
     "A person is on a bicycle.", "The cyclist is training for a race.",
     "The cyclist is not wearing a helmet."),
    ("Maria paid for her groceries with cash at the supermarket checkout.",
     "Maria bought something at the supermarket.", "Maria spent more than fifty dollars.",
     "Maria left the supermarket without buying anything."),
    ("An elderly man is watering the tomato plants in his back garden.",
     "A man is taking care of plants.", "The man grows tomatoes to sell at the market.",
     "There are no plants in the man's garden."),
    ("The orchestra performed to a full concert hall on Friday night.",
     "The concert hall had a large audience on Friday night.", "The orchestra played a symphony by Beethoven.",
     "The concert hall was empty on Friday night."),
    ("A nurse is measuring a patient's blood pressure in a clinic.",
     "Someone's blood pressure is being checked.", "The patient has a heart condition.",
     "No one in the clinic is receiving any care."),
    ("Two friends are sharing a pizza at a small table in a cafe.",
     "People are eating.", "The friends ordered the pizza with extra cheese.",
     "The two friends are eating nothing."),
    ("A plumber is fixing a leaking pipe under the kitchen sink.",
     "A pipe is being repaired.", "The homeowner called the plumber early this morning.",
     "Nothing in the kitchen needs to be repaired."),
    ("The train to Lisbon was delayed by forty minutes because of a signal failure.",
     "The train to Lisbon did not run on time.", "The train to Lisbon was full of tourists.",
     "The train to Lisbon left exactly on schedule."),
    ("A girl is reading a book under a tree while her cat sleeps beside her.",
     "A girl and an animal are near a tree.", "The girl is reading a mystery novel.",
     "The girl is swimming in a pool."),
    ("Students are taking a written exam in silence in a large hall.",
     "Students are sitting a test.", "The exam is for a mathematics course.",
     "The students are chatting loudly during the exam."),
]


def make_nli(out: Path, rng: random.Random) -> None:
    rows = [(p, h, label) for p, *hyps in NLI for h, label in zip(hyps, ("entailment", "neutral", "contradiction"))]
    rng.shuffle(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "premise", "hypothesis", "label"])
    for k, (p, h, label) in enumerate(rows):
        writer.writerow([f"nli_{k:03d}", p, h, label])
    (out / "data.csv").write_text(buf.getvalue(), encoding="utf-8")
    _card(out, {
        "name": "everyday-nli",
        "task": "Natural language inference",
        "task_type": "classification",
        "skill": "Textual Entailment",
        "domain": ["Everyday life"],
        "description": "Decide whether a hypothesis follows from an everyday premise: entailment, neutral or "
                       "contradiction (balanced, 16 of each).",
        "license": WRITTEN,
        "answer_kind": "label",
    })


# ---------------------------------------------------------------------------------------------- dialogues
# (first speaker, second speaker, turns alternating from the first speaker, the natural next line)
DIALOGUES = [
    ("Ana", "Ben", ["Did you remember to buy milk on your way home?", "Oh no, I completely forgot. Sorry!",
                    "That's okay, but we need it for breakfast tomorrow."],
     "I'll run to the corner shop now; it's open until ten."),
    ("Leo", "Mia", ["Are you coming to the football match on Saturday?",
                    "I'd love to, but I have to work until two.",
                    "The match starts at three, so you could still make it."],
     "Great, then I'll meet you at the stadium entrance at a quarter to three."),
    ("Sara", "Tom", ["Excuse me, is this seat taken?", "No, go ahead. I'm just waiting for the next train.",
                     "Thanks. Do you know if the airport train is running today?"],
     "It is, but the board says it's about ten minutes late."),
    ("Julia", "Omar", ["Good evening, do you have a reservation?", "Yes, a table for two under the name Haddad.",
                       "Perfect, your table is ready. Would you prefer to sit inside or on the terrace?"],
     "The terrace, please, since it's such a warm evening."),
    ("Priya", "Sam", ["My laptop keeps freezing whenever I open the browser.", "Have you tried restarting it?",
                      "Twice already, and it still happens.",
                      "Then it might be an extension. Try opening the browser in safe mode."],
     "Okay, I'll try that now and let you know if it helps."),
    ("Grace", "Noah", ["I'm thinking of adopting a dog.",
                       "That's a big commitment. Do you have time to walk it every day?",
                       "I work from home now, so I could take it out in the morning and at lunch."],
     "Then you should visit the animal shelter on Elm Street; they have lots of friendly dogs."),
    ("Lucas", "Emma", ["How was your first day at the new job?",
                       "Busy! I met about twenty people and I've already forgotten most of their names.",
                       "Don't worry, everyone forgets names on their first day."],
     "I hope so. Tomorrow I'm going to write them down in a notebook."),
    ("Diego", "Hana", ["Excuse me, how do I get to the museum from here?",
                       "Walk straight ahead to the second traffic light, then turn left.",
                       "Is it far? I'm carrying quite a heavy bag."],
     "Not really, it's about a ten-minute walk, or you can take the number 12 bus."),
    ("Ravi", "Chloe", ["Hi, I've had a sore throat for three days.", "Do you have a fever as well?",
                       "No, just the sore throat and a bit of a cough."],
     "These lozenges should help, but see a doctor if it isn't better in a few days."),
    ("Ella", "Jack", ["What do you want to watch tonight?", "Something funny. I've had a long week.",
                      "How about that new comedy with the two detectives?",
                      "I heard it's good. Does it start at eight?"],
     "At a quarter past eight, so we should leave the house by half past seven."),
    ("Lena", "Kofi", ["Can you help me with dinner? I'm making vegetable soup.", "Sure. What should I do?",
                      "Could you peel the carrots and chop the onions?"],
     "No problem. Where do you keep the peeler?"),
    ("Nina", "Paul", ["Should I take an umbrella today?", "The forecast says showers in the afternoon.",
                      "But it's so sunny right now."],
     "The weather changes quickly here, so take it just in case."),
    ("Marco", "Yuki", ["Hello, I'd like to check in. I booked a single room for three nights.",
                       "Welcome. May I see your passport, please?", "Here you are.",
                       "Thank you. You're in room 304 on the third floor. Breakfast is served from seven to ten.",
                       "Thanks. Is there a lift?", "Yes, just behind you on the right."],
     "Great. Could I also have a wake-up call at six tomorrow morning?"),
    ("Fatima", "George", ["It's Dad's birthday next Sunday. Any gift ideas?",
                          "He's been talking about taking up gardening.",
                          "Good idea! Maybe a set of garden tools?"],
     "Yes, and we could add a pair of gloves and some seeds."),
    ("Sofia", "Ivan", ["I think this book is overdue. Can I still return it?",
                       "Of course. It's five days late, so there's a small fine of one euro.",
                       "That's fine. Can I pay by card?"],
     "Yes, just tap your card on the reader here."),
    ("Felix", "Aisha", ["Have you been to the new gym on Park Road?",
                        "Yes, I joined last week. The equipment is brand new.",
                        "How much is the monthly membership?"],
     "It's thirty dollars a month, and the first week is free."),
    ("Oliver", "Maya", ["Have you seen my keys anywhere?", "Did you check your coat pocket?",
                        "Yes, they're not there either.",
                        "What about the kitchen table? You had your bag there this morning."],
     "Found them, under the newspaper! Thanks."),
    ("Hiro", "Carmen", ["One return ticket to Oxford, please.", "Are you coming back today or on another day?",
                        "I'm coming back this evening."],
     "Then a same-day return is cheapest. That will be twenty-four pounds."),
    ("Rosa", "Daniel", ["What colour should we paint the living room?",
                        "Something light, because the room doesn't get much sun.", "Maybe a pale yellow?"],
     "I like that. Let's buy a small tin first and test it on one wall."),
    ("Zara", "Emil", ["Are you ready for the chemistry exam tomorrow?",
                      "Not really. I still don't understand how to balance equations.",
                      "I can explain it to you after lunch, if you like."],
     "That would be amazing, thank you. Shall we meet in the library?"),
    ("Lucy", "Kai", ["Good morning, Riverside Clinic. How can I help?",
                     "Hi, I'd like to make an appointment with Dr. Patel.",
                     "She has a free slot on Thursday at half past ten. Does that suit you?"],
     "Thursday at half past ten is perfect, thank you."),
    ("Beth", "Amir", ["My car won't start this morning.", "Is the battery flat? Did you leave the lights on?",
                      "I might have. I got home late last night."],
     "I have jumper cables, so I'll come over and help you start it."),
    ("Dora", "Chen", ["This cake is delicious! Did you bake it yourself?", "Yes, it's my grandmother's recipe.",
                      "Would you mind sharing it?"],
     "Not at all, I'll email it to you tonight."),
    ("Freya", "Eli", ["Do you want to go hiking this weekend?", "Sure, where were you thinking?",
                      "The lake trail. It's about twelve kilometres.", "That sounds good. Should we bring lunch?"],
     "Yes, let's pack sandwiches and eat by the lake."),
    ("Iris", "Gabe", ["Did you hear the music from upstairs last night?", "Yes, it kept me awake until two.",
                      "Should we say something to them?"],
     "Let's knock on their door this evening and ask them politely."),
    ("Jade", "Hugo", ["Hi, what can I get you?", "A large cappuccino, please.",
                      "Would you like it with regular milk or oat milk?"],
     "Oat milk, please, and no sugar."),
    ("Karl", "Ines", ["When are you moving into the new flat?", "On the fifteenth, if the paperwork is ready.",
                      "Do you need help carrying boxes?"],
     "Yes, please! I'll buy pizza for everyone who helps."),
    ("Nora", "Liam", ["Do you have any books about birds for children?",
                      "Yes, they're in the children's section on the second floor.",
                      "Are there any with lots of pictures? My son is only five."],
     "There's a picture guide to garden birds that young children love."),
    ("Sean", "Ruth", ["I can't log in to my email. It says my password is wrong.", "Did you change it recently?",
                      "Yes, last week, but I can't remember the new one."],
     "Click 'Forgot password' and they'll send a reset link to your phone."),
    ("Tara", "Victor", ["I have a dentist appointment tomorrow and I'm nervous.", "Is it just a check-up?",
                        "No, I need a filling."],
     "It's usually quick, and they numb the tooth first, so it shouldn't hurt."),
    ("Walter", "Uma", ["My bike has a flat tyre again.", "Maybe there's still a piece of glass stuck in the tyre.",
                       "Good point, I never checked the tyre itself."],
     "Run your fingers carefully around the inside before you put a new tube in."),
    ("Yara", "Xavier", ["Can I try these trainers in a size 39?", "Of course, here you go.",
                        "They fit well, but they're a bit tight at the toes."],
     "Would you like to try a size 40 as well?"),
    ("Zoe", "Adam", ["The picnic is on Saturday, right?", "It was, but it's supposed to rain all day.",
                     "Oh no. Should we cancel it?", "Let's move it indoors to my place instead."],
     "Good plan. I'll tell everyone and still bring the salad I promised."),
    ("Carlos", "Bella", ["How long have you been learning Japanese?",
                         "About two years, but I still find the writing hard.",
                         "I'm thinking of starting too. Any advice?"],
     "Practise a little every day; even ten minutes helps more than one long session a week."),
    ("Elena", "Dev", ["Dev, you haven't handed in your essay yet.", "I'm sorry, I was ill for most of last week.",
                      "I understand. Can you finish it by Friday?"],
     "Yes, I'll bring it to your office on Friday morning."),
    ("Finn", "Gina", ["How do I top up my bus card?", "You can do it at the machine by the station entrance.",
                      "Does it take cash?"],
     "Cash and cards, but it only accepts notes up to twenty."),
    ("Isla", "Harry", ["The leaves on my plant are turning yellow.", "How often do you water it?",
                       "Every day, because I didn't want it to dry out."],
     "That's probably too much; let the soil dry out a little between waterings."),
    ("Kim", "Jonas", ["Tickets for the jazz festival go on sale tomorrow at nine.",
                      "Do you think they'll sell out quickly?", "Last year they were gone within an hour."],
     "Then let's both be online at nine and buy them as soon as they're available."),
    ("Mateo", "Laura", ["Could we have the bill, please?", "Of course. Will you be paying together or separately?",
                        "Separately, please."],
     "No problem, I'll bring two bills right away."),
    ("Otto", "Nadia", ["Hi, a parcel for you was delivered to my house by mistake.",
                       "Oh, thank you! I've been waiting for it all week.", "It's quite heavy. Shall I bring it over?"],
     "That's kind of you, but I'll come and get it right now."),
]


def make_dialogues(out: Path) -> None:
    rows = []
    for k, (first, second, turns, response) in enumerate(DIALOGUES):
        dialogue = [{"speaker": (first, second)[t % 2], "text": line} for t, line in enumerate(turns)]
        rows.append({"id": f"dlg_{k:03d}", "dialogue": dialogue, "response": response})
    _jsonl(out / "data.jsonl", rows)
    _card(out, {
        "name": "daily-dialogues",
        "task": "Dialogue response generation",
        "task_type": "dialogue",
        "skill": "Conversational Response",
        "domain": ["Everyday life"],
        "description": "Short everyday conversations between two named speakers (3-6 turns); the answer is the "
                       "natural next line, spoken by the speaker whose turn it is.",
        "license": WRITTEN,
    })


# ---------------------------------------------------------------------------------------------- MCQ
# (question, correct answer, three wrong answers)
MCQ = [
    ("What is the capital of Australia?", "Canberra", ["Sydney", "Melbourne", "Perth"]),
    ("Which planet is known as the Red Planet?", "Mars", ["Venus", "Jupiter", "Saturn"]),
    ("What is the chemical symbol for gold?", "Au", ["Ag", "Gd", "Go"]),
    ("By the most common convention, how many continents are there?", "Seven", ["Five", "Six", "Eight"]),
    ("Who wrote the play 'Romeo and Juliet'?", "William Shakespeare", ["Charles Dickens", "Jane Austen", "Mark Twain"]),
    ("What is the largest ocean on Earth?", "The Pacific Ocean", ["The Atlantic Ocean", "The Indian Ocean", "The Arctic Ocean"]),
    ("At sea level, at what temperature in degrees Celsius does water boil?", "100", ["90", "110", "212"]),
    ("Which gas do plants take in from the air for photosynthesis?", "Carbon dioxide", ["Oxygen", "Nitrogen", "Helium"]),
    ("What is the longest bone in the human body?", "The femur", ["The tibia", "The humerus", "The radius"]),
    ("How many sides does a hexagon have?", "Six", ["Five", "Seven", "Eight"]),
    ("In which country is the city of Kyoto?", "Japan", ["China", "South Korea", "Thailand"]),
    ("What is the hardest naturally occurring substance?", "Diamond", ["Quartz", "Iron", "Granite"]),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ["Michelangelo", "Raphael", "Vincent van Gogh"]),
    ("What is the smallest prime number?", "2", ["1", "3", "0"]),
    ("Which organ pumps blood around the human body?", "The heart", ["The liver", "The lungs", "The kidneys"]),
    ("What is the main language spoken in Brazil?", "Portuguese", ["Spanish", "French", "English"]),
    ("How many minutes are there in a full day?", "1,440", ["1,240", "1,400", "3,600"]),
    ("Which instrument has 88 keys in its standard modern form?", "The piano", ["The guitar", "The violin", "The trumpet"]),
    ("What is the freezing point of water in degrees Fahrenheit?", "32", ["0", "100", "212"]),
    ("Which is the largest planet in our solar system?", "Jupiter", ["Saturn", "Earth", "Neptune"]),
    ("In which year did humans first land on the Moon?", "1969", ["1959", "1972", "1981"]),
    ("What is the square root of 144?", "12", ["14", "11", "16"]),
    ("Which animal is the largest mammal alive today?", "The blue whale", ["The African elephant", "The giraffe", "The hippopotamus"]),
    ("What is the currency of the United Kingdom?", "The pound sterling", ["The euro", "The dollar", "The franc"]),
    ("Which vitamin does human skin produce when exposed to sunlight?", "Vitamin D", ["Vitamin C", "Vitamin A", "Vitamin K"]),
    ("How many players does a football (soccer) team have on the field at once?", "Eleven", ["Nine", "Ten", "Twelve"]),
    ("Which mountain has the highest summit above sea level?", "Mount Everest", ["K2", "Kilimanjaro", "Mont Blanc"]),
    ("Which element has the atomic number 1?", "Hydrogen", ["Helium", "Oxygen", "Carbon"]),
    ("Which river flows through Paris?", "The Seine", ["The Thames", "The Danube", "The Rhine"]),
    ("What do the interior angles of a triangle add up to?", "180 degrees", ["90 degrees", "270 degrees", "360 degrees"]),
    ("Who developed the theory of general relativity?", "Albert Einstein", ["Isaac Newton", "Niels Bohr", "Galileo Galilei"]),
    ("What is the largest desert in Africa?", "The Sahara", ["The Kalahari", "The Namib", "The Gobi"]),
    ("Which blood cells carry oxygen around the body?", "Red blood cells", ["White blood cells", "Platelets", "Plasma cells"]),
    ("What is 15% of 200?", "30", ["15", "20", "35"]),
    ("On which continent is most of Egypt located?", "Africa", ["Asia", "Europe", "South America"]),
    ("Which metal is liquid at room temperature?", "Mercury", ["Iron", "Aluminium", "Copper"]),
    ("About how many hours does Earth take to rotate once on its axis?", "24", ["12", "48", "365"]),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong", ["Buzz Aldrin", "Yuri Gagarin", "John Glenn"]),
    ("What do honeybees make from flower nectar?", "Honey", ["Silk", "Milk", "Paper"]),
    ("How many legs does a spider have?", "Eight", ["Six", "Ten", "Four"]),
]


def make_mcq(out: Path, rng: random.Random) -> None:
    letters = list("ABCD" * (len(MCQ) // 4))
    rng.shuffle(letters)  # balanced answer positions
    ids, questions, options, answers = [], [], [], []
    for k, ((question, correct, wrong), letter) in enumerate(zip(MCQ, letters)):
        choices = list(wrong)
        rng.shuffle(choices)
        choices.insert("ABCD".index(letter), correct)
        ids.append(f"mcq_{k:03d}")
        questions.append(question)
        options.append(choices)
        answers.append(letter)
    table = pa.table({"id": ids, "question": questions, "options": pa.array(options, pa.list_(pa.string())),
                      "answer": answers})
    pq.write_table(table, out / "data.parquet", compression="zstd")
    _card(out, {
        "name": "general-knowledge-mcq",
        "task": "General knowledge multiple choice",
        "task_type": "multiple choice question answering",
        "skill": "World Knowledge",
        "domain": ["Geography", "Science", "History", "Arts", "Mathematics"],
        "description": "Four-option general knowledge questions (geography, science, history, arts, numbers); "
                       "the answer is the letter of the correct option.",
        "license": WRITTEN,
    })


# ---------------------------------------------------------------------------------------------- files
def _png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok, path
    path.write_bytes(buf.tobytes())


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _card(folder: Path, card: dict) -> None:
    card = {**card, "source": SOURCE}
    (folder / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    makers = {
        "shapes": lambda d, rng: make_shapes(d, rng),
        "clocks": lambda d, rng: make_clocks(d, rng),
        "everyday-nli": lambda d, rng: make_nli(d, rng),
        "daily-dialogues": lambda d, rng: make_dialogues(d),
        "general-knowledge-mcq": lambda d, rng: make_mcq(d, rng),
    }
    for k, (name, make) in enumerate(makers.items()):
        folder = out / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        make(folder, random.Random(SEED + k))  # one stream per dataset: editing one leaves the others intact
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
