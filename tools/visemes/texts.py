"""Texts for the synthetic viseme corpus (see ``espeak_corpus.py``).

Everything here was written for this project, except traditional pangrams
and tongue twisters, public-domain verse and prose (Lincoln, Shakespeare,
nursery rhymes) and some Harvard sentences (IEEE 1969), all in
``ENGLISH_SENTENCES`` or ``FOREIGN_SENTENCES``. Three sources of English phrases, so the corpus
covers every sound in many contexts:

* ``ENGLISH_SENTENCES``: varied hand-written sentences (questions, names,
  places, tongue twisters, everyday speech);
* ``random_english_sentence``: grammatical nonsense from word lists, which
  puts sounds next to each other in combinations no fixed text has;
* ``random_number_phrase``: numbers, dates, times, prices and phone numbers,
  which espeak-ng expands to words.

Other languages get a few short sentences each (``FOREIGN_SENTENCES``) plus
``random_foreign_sentence``, a shuffle of their words: espeak-ng still
pronounces them with that language's rules, which is all the corpus needs.
"""

import numpy as np

ENGLISH_SENTENCES = (
    # Pangrams.
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs.",
    "Sphinx of black quartz, judge my vow.",
    "How vexingly quick daft zebras jump!",
    "The five boxing wizards jump quickly.",
    "Jackdaws love my big sphinx of quartz.",
    # Public domain: speeches, verse, nursery rhymes, tongue twisters.
    "Four score and seven years ago our fathers brought forth on this continent a new nation.",
    "Government of the people, by the people, for the people, shall not perish from the earth.",
    "To be, or not to be, that is the question.",
    "All the world's a stage, and all the men and women merely players.",
    "Now is the winter of our discontent made glorious summer by this sun of York.",
    "Shall I compare thee to a summer's day? Thou art more lovely and more temperate.",
    "Friends, Romans, countrymen, lend me your ears.",
    "Mary had a little lamb, its fleece was white as snow.",
    "Humpty Dumpty sat on a wall, Humpty Dumpty had a great fall.",
    "Twinkle, twinkle, little star, how I wonder what you are.",
    "Peter Piper picked a peck of pickled peppers.",
    "She sells sea shells by the sea shore.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "Red lorry, yellow lorry, red lorry, yellow lorry.",
    # Harvard sentences (IEEE 1969, list 1).
    "The birch canoe slid over the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    # Everyday speech.
    "Could you pass me the butter, please?",
    "I think we should leave before the traffic gets worse.",
    "Where did you put the keys to the garage?",
    "My brother moved to Chicago last spring.",
    "We watched the whole movie without saying a word.",
    "Does anyone know what time the museum opens on Sunday?",
    "Honestly, I have no idea what happened.",
    "Wow, that's amazing! How did you do it?",
    "Oh no, I forgot my umbrella again.",
    "Yes, absolutely. No problem at all.",
    "Hmm, let me think about that for a moment.",
    "Thank you very much for your help yesterday.",
    "Good morning everyone, and welcome to the show.",
    "Turn left at the church, then go straight on for about a mile.",
    "Would you like tea or coffee with your breakfast?",
    "The weather forecast says it will rain all weekend.",
    "Measure the width of the window with the yellow ruler.",
    "The treasure was buried beneath an old oak tree.",
    "Usually, I watch television in the evening.",
    "A vision of beige walls and azure ceilings.",
    "Judge Jones charged the jury in June.",
    "The thirsty athlete thought about three thousand things.",
    "Those clothes smell of smoke and leather.",
    "Whether the weather is warm or whether the weather is cold, we'll weather the weather.",
    "Bob bought a big blue balloon for the baby.",
    "Fifty fine violins vibrated for the visitors.",
    "Maybe Mum will make more marmalade.",
    "Kate's cat caught a quick green gecko.",
    "Lovely lilies line the lonely lane.",
    "Nine nice nannies knitted new nightgowns.",
    "Ruth wrote a rather rude review.",
    "Cheerful children chose cherry cheesecake.",
    "Shoes and socks should be washed separately.",
    "Zoe's zebra zigzagged through the zoo.",
    "Oh, go home and throw those old bones out.",
    "You two should choose new boots soon.",
    "Eat the green beans and drink the sweet tea.",
    "Ten red pens fell under the bed.",
    "Sit still, Jim, this will only take a minute.",
    "Father parked the car in the yard.",
    "Why did the boy enjoy his toy?",
    "How now, brown cow, out of the house!",
    "The poor tourist was sure of the route.",
    "Mister and Missus Patel live on Baker Street.",
    "Doctor Nguyen and Professor Okafor are presenting today.",
    "Olga, Pierre and Hiroshi flew from Vienna to Toronto.",
    "Did you see Margaret at the Edinburgh festival?",
    "Is this the right train for Manchester Piccadilly?",
    "Are you coming to the party on Friday night?",
    "What's the quickest way to the airport?",
    "Can I pay by card, or do you only take cash?",
    "Why is the sky blue and the sunset orange?",
    "Which of these two jackets do you prefer?",
    "Who left the fridge door open all night?",
    "When does the last bus leave the station?",
    "The scientists measured the pressure inside the chamber.",
    "Photosynthesis converts sunlight into chemical energy.",
    "The algorithm sorts the numbers in ascending order.",
    "Please remember to back up your files regularly.",
    "The orchestra played Beethoven's ninth symphony.",
    "A thunderstorm rolled across the valley at dusk.",
    "The fisherman mended his nets on the beach.",
    "Every morning she jogs along the river path.",
    "The puppy chewed through the telephone cable.",
    "Our neighbours are building a greenhouse behind their garage.",
    "The judge will announce the verdict tomorrow.",
    "He whispered something, but nobody heard him.",
    "I can't believe it's already the end of August.",
    "Let's meet outside the library at half past four.",
    "The recipe calls for two eggs, flour, sugar and a pinch of salt.",
    "Squirrels scurried up the sycamore tree.",
    "The sheriff's shoes squeaked on the shiny floor.",
    "Strange things happen when the clock strikes midnight.",
    "Grab the blanket and the flashlight, we're going camping.",
    "Through thick and thin, they stayed together.",
    "The velvet curtains hid a very small window.",
    "I'd rather walk, thanks. It's a lovely evening.",
    "Well, actually, that's not quite what I meant.",
    "Uh, I suppose we could try it again tomorrow.",
    "Look out! The ladder is falling!",
    "Hello? Is anybody there?",
    "Hey, wait for me!",
    "Okay, see you later.",
    "Absolutely not.",
    "Really? Are you sure?",
)

ADJECTIVES = (
    "quick", "lazy", "bright", "gloomy", "purple", "ancient", "tiny", "enormous",
    "cheerful", "thirsty", "smooth", "rough", "shiny", "fuzzy", "brave", "quiet",
    "noisy", "yellow", "orange", "frozen", "warm", "careful", "clever", "foolish",
    "golden", "hollow", "jolly", "mighty", "narrow", "pleasant", "wooden", "vivid",
)
NOUNS = (
    "dog", "cat", "teacher", "pilot", "window", "garden", "bottle", "mountain",
    "river", "pencil", "judge", "voyage", "treasure", "shoe", "cheese", "thumb",
    "feather", "zebra", "umbrella", "orchestra", "yacht", "queen", "wizard", "lamp",
    "kettle", "bridge", "village", "machine", "engine", "violin", "beach", "tower",
    "mirror", "ocean", "puzzle", "rocket", "sandwich", "tiger", "whistle", "ghost",
)
VERBS = (
    "watched", "chased", "painted", "carried", "measured", "pushed", "bought",
    "found", "threw", "caught", "visited", "borrowed", "fixed", "juggled",
    "thanked", "followed", "dropped", "loved", "moved", "hugged", "fetched",
    "squeezed", "washed", "ignored", "joined", "rolled", "shaped", "polished",
)
ADVERBS = (
    "slowly", "quickly", "quietly", "happily", "suddenly", "gently", "badly",
    "carefully", "loudly", "eagerly", "rarely", "always", "never", "often",
)
PLACES = (
    "in the kitchen", "on the roof", "under the bridge", "behind the church",
    "near the harbour", "at the zoo", "by the fountain", "inside the museum",
    "beyond the hills", "across the square", "through the forest", "at school",
)
NAMES = (
    "Alice", "Bob", "Charlotte", "David", "Eve", "Frank", "George", "Hannah",
    "Isabel", "Jack", "Kevin", "Laura", "Mohammed", "Nora", "Oliver", "Priya",
    "Quentin", "Rosa", "Sam", "Thomas", "Ursula", "Victor", "William", "Yusuf",
    "Zara", "Joaquin", "Siobhan", "Xavier", "Bartholomew", "Eugene",
)
TEMPLATES = (
    "The {adj} {noun} {verb} the {noun2} {place}.",
    "{name} {adv} {verb} a {adj} {noun}.",
    "Did {name} really see the {adj} {noun} {place}?",
    "Why would a {noun} ever want a {adj} {noun2}?",
    "{name} and {name2} {verb} the {noun}, then went home.",
    "A {adj}, {adj2} {noun} is waiting {place}.",
    "Never give a {noun} to a {adj} {noun2}!",
    "My {noun} is {adj}, but your {noun2} is {adj2}.",
    "{name}, bring the {noun} over here, please.",
    "We {adv} {verb} every {noun} {place}.",
)
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)
NUMBER_TEMPLATES = (
    "It costs ${dollars}.{cents:02d}.",
    "The meeting is on {month} {day}, {year}.",
    "Call me at {hour}:{minute:02d} tomorrow.",
    "My number is {digits}.",
    "There were {big} people at the stadium.",
    "Take {small} tablets, {small2} times a day.",
    "Flight {small}{small2}{small3} leaves from gate {small2}.",
    "Room {big_room}, on floor {small}.",
    "{small} plus {small2} equals {sum}.",
    "She was born in {year}.",
    "The temperature dropped to minus {small} degrees.",
    "About {pct} percent of the votes were counted.",
)

FOREIGN_SENTENCES = {
    "de": (
        "Guten Morgen, wie geht es dir heute?",
        "Über den Brücken fahren viele Autos.",
        "Ich möchte bitte eine Tasse Kaffee mit Milch.",
        "Die Kinder spielen im Garten hinter dem Haus.",
        "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
        "Fischers Fritz fischt frische Fische.",
        "Könnten Sie mir bitte den Weg zum Bahnhof zeigen?",
        "Im Herbst fallen die bunten Blätter von den Bäumen.",
        "Wir fahren morgen früh mit dem Zug nach München.",
        "Das Wetter ist schön, aber ein bisschen kühl.",
        "Meine Schwester wohnt seit zwei Jahren in Hamburg.",
        "Warum lachst du? Ich habe nichts Lustiges gesagt.",
        "Das Brötchen schmeckt nach Butter und Käse.",
        "Euer Freund heißt Jürgen und ist sehr höflich.",
    ),
    "fr": (
        "Bonjour, comment allez-vous aujourd'hui?",
        "Un bon vin blanc, une brune, un pain chaud.",
        "Les enfants jouent dans le jardin derrière la maison.",
        "Je voudrais un café au lait, s'il vous plaît.",
        "Portez ce vieux whisky au juge blond qui fume.",
        "Les chaussettes de l'archiduchesse sont-elles sèches?",
        "Nous partirons demain matin pour Marseille.",
        "Il fait beau, mais le vent est un peu froid.",
        "Où est la gare, s'il vous plaît?",
        "Mon oncle a acheté une voiture rouge.",
        "La lune brille au-dessus du lac tranquille.",
        "Pourquoi est-ce que tu ris? Je n'ai rien dit de drôle.",
        "Un chasseur sachant chasser doit savoir chasser sans son chien.",
        "Le petit garçon a peur du loup.",
    ),
    "es": (
        "Buenos días, ¿cómo estás hoy?",
        "Los niños juegan en el jardín detrás de la casa.",
        "Quisiera un café con leche, por favor.",
        "El veloz murciélago hindú comía feliz cardillo y kiwi.",
        "Tres tristes tigres tragaban trigo en un trigal.",
        "Mañana por la mañana viajamos a Barcelona.",
        "Hace buen tiempo, pero el viento está frío.",
        "¿Dónde está la estación de tren?",
        "Mi hermana vive en Sevilla desde hace dos años.",
        "El perro corre rápido por la playa.",
        "La guitarra suena muy bien esta noche.",
        "¿Por qué te ríes? No he dicho nada gracioso.",
        "Juan y Jorge comieron churros con chocolate.",
        "El zapato azul está debajo de la silla.",
    ),
    "it": (
        "Buongiorno, come stai oggi?",
        "I bambini giocano nel giardino dietro la casa.",
        "Vorrei un caffè con latte, per favore.",
        "Quel vituperabile xenofobo zelante assaggia il whisky ed esclama alleluja.",
        "Trentatré trentini entrarono a Trento tutti e trentatré trotterellando.",
        "Domani mattina partiamo per Firenze.",
        "Fa bel tempo, ma il vento è un po' freddo.",
        "Dov'è la stazione, per favore?",
        "Mia sorella abita a Napoli da due anni.",
        "Il gatto dorme sulla sedia vicino alla finestra.",
        "Perché ridi? Non ho detto niente di divertente.",
        "La pizza margherita è la mia preferita.",
        "Sopra la panca la capra campa.",
        "Gli gnocchi sono pronti, venite a mangiare.",
    ),
    "pt-br": (
        "Bom dia, como você está hoje?",
        "As crianças brincam no jardim atrás da casa.",
        "Eu queria um café com leite, por favor.",
        "Luís argüia à Júlia que brações, fé, chá, óxido, pôr, zângão eram palavras do português.",
        "O rato roeu a roupa do rei de Roma.",
        "Amanhã de manhã vamos viajar para São Paulo.",
        "O tempo está bom, mas o vento está frio.",
        "Onde fica a estação de trem?",
        "Minha irmã mora em Lisboa há dois anos.",
        "O cachorro corre rápido pela praia.",
        "Por que você está rindo? Eu não disse nada engraçado.",
        "Três pratos de trigo para três tigres tristes.",
        "A lua brilha sobre o mar tranquilo.",
        "Não sei se ele vem hoje ou amanhã.",
    ),
    "nl": (
        "Goedemorgen, hoe gaat het met je?",
        "De kinderen spelen in de tuin achter het huis.",
        "Ik wil graag een kopje koffie met melk.",
        "Pa's wijze lynx bezag vroom het fikse aquaduct.",
        "Morgenochtend gaan we met de trein naar Amsterdam.",
        "Het weer is mooi, maar de wind is koud.",
        "Waar is het station, alstublieft?",
        "Mijn zus woont al twee jaar in Utrecht.",
        "De hond rent snel over het strand.",
        "Waarom lach je? Ik zei niets grappigs.",
        "Achtentachtig prachtige grachten.",
        "Buiten regent het, dus blijven we thuis.",
        "De vrouw kocht verse groenten op de markt.",
    ),
    "pl": (
        "Dzień dobry, jak się masz?",
        "Dzieci bawią się w ogrodzie za domem.",
        "Poproszę kawę z mlekiem.",
        "Pchnąć w tę łódź jeża lub ośm skrzyń fig.",
        "Szczęśliwy chłopiec czyta książkę w szkole.",
        "Jutro rano jedziemy pociągiem do Krakowa.",
        "Pogoda jest ładna, ale wiatr jest zimny.",
        "Gdzie jest dworzec kolejowy?",
        "Moja siostra mieszka w Gdańsku od dwóch lat.",
        "Pies szybko biegnie po plaży.",
        "Dlaczego się śmiejesz? Nic śmiesznego nie powiedziałem.",
        "Stół z powyłamywanymi nogami.",
        "Żółta łódka płynie po cichej rzece.",
    ),
    "ru": (
        "Доброе утро, как у тебя дела?",
        "Дети играют в саду за домом.",
        "Я хотел бы чашку кофе с молоком.",
        "Съешь же ещё этих мягких французских булок да выпей чаю.",
        "Шла Саша по шоссе и сосала сушку.",
        "Завтра утром мы поедем на поезде в Москву.",
        "Погода хорошая, но ветер холодный.",
        "Где находится вокзал?",
        "Моя сестра живёт в Петербурге уже два года.",
        "Собака быстро бежит по пляжу.",
        "Почему ты смеёшься? Я ничего смешного не сказал.",
        "Карл у Клары украл кораллы.",
        "Щука плывёт в чистой реке.",
    ),
    "fi": (
        "Hyvää huomenta, mitä kuuluu?",
        "Lapset leikkivät puutarhassa talon takana.",
        "Haluaisin kupin kahvia maidolla, kiitos.",
        "Törkylempijävongahdus on suomen kielen pangrammi.",
        "Huomenna aamulla matkustamme junalla Helsinkiin.",
        "Sää on kaunis, mutta tuuli on kylmä.",
        "Missä rautatieasema on?",
        "Siskoni on asunut Tampereella kaksi vuotta.",
        "Koira juoksee nopeasti rannalla.",
        "Miksi sinä naurat? En sanonut mitään hauskaa.",
        "Kokko, kokoo koko kokko kokoon.",
        "Yöllä järvi on hyvin hiljainen.",
    ),
    "id": (
        "Selamat pagi, apa kabar?",
        "Anak-anak bermain di kebun di belakang rumah.",
        "Saya mau secangkir kopi susu, tolong.",
        "Besok pagi kami naik kereta ke Bandung.",
        "Cuacanya bagus, tetapi anginnya dingin.",
        "Di mana stasiun kereta api?",
        "Kakak saya tinggal di Surabaya sejak dua tahun lalu.",
        "Anjing itu berlari cepat di pantai.",
        "Kenapa kamu tertawa? Saya tidak bilang apa-apa yang lucu.",
        "Ibu membeli sayur dan buah di pasar.",
        "Kucing tidur di atas kursi dekat jendela.",
    ),
    "sv": (
        "God morgon, hur mår du idag?",
        "Barnen leker i trädgården bakom huset.",
        "Jag skulle vilja ha en kopp kaffe med mjölk.",
        "Flygande bäckasiner söka hwila på mjuka tuvor.",
        "I morgon bitti åker vi tåg till Göteborg.",
        "Vädret är fint, men vinden är kall.",
        "Var ligger järnvägsstationen?",
        "Min syster har bott i Uppsala i två år.",
        "Hunden springer snabbt längs stranden.",
        "Varför skrattar du? Jag sa inget roligt.",
        "Sju sjösjuka sjömän sköttes av sju sköna sjuksköterskor.",
        "Sjön är lugn och stilla på kvällen.",
    ),
}


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def random_english_sentence(rng: np.random.Generator) -> str:
    """A grammatical nonsense sentence from the word lists."""
    template = _pick(rng, TEMPLATES)
    return template.format(
        adj=_pick(rng, ADJECTIVES), adj2=_pick(rng, ADJECTIVES),
        noun=_pick(rng, NOUNS), noun2=_pick(rng, NOUNS),
        verb=_pick(rng, VERBS), adv=_pick(rng, ADVERBS),
        place=_pick(rng, PLACES), name=_pick(rng, NAMES), name2=_pick(rng, NAMES),
    )


def random_number_phrase(rng: np.random.Generator) -> str:
    """A phrase with numbers, a date, a time, a price or a phone number."""
    small, small2, small3 = (int(v) for v in rng.integers(1, 13, size=3))
    return _pick(rng, NUMBER_TEMPLATES).format(
        dollars=int(rng.integers(1, 999)), cents=int(rng.integers(0, 100)),
        month=_pick(rng, MONTHS), day=int(rng.integers(1, 29)),
        year=int(rng.integers(1900, 2040)), hour=int(rng.integers(1, 13)),
        minute=int(rng.integers(0, 60)),
        digits=" ".join(str(int(d)) for d in rng.integers(0, 10, size=7)),
        big=int(rng.integers(100, 90000)), big_room=int(rng.integers(100, 999)),
        small=small, small2=small2, small3=small3, sum=small + small2,
        pct=int(rng.integers(1, 100)),
    )


def random_foreign_sentence(lang: str, rng: np.random.Generator) -> str:
    """A shuffle of 4-9 words taken from the language's sentences."""
    words = [w.strip(",.?!¿¡") for s in FOREIGN_SENTENCES[lang] for w in s.split()]
    picked = rng.choice(len(words), size=int(rng.integers(4, 10)), replace=False)
    sentence = " ".join(words[i] for i in picked)
    return sentence[0].upper() + sentence[1:] + _pick(rng, (".", "?", "!", "."))


def english_phrase(rng: np.random.Generator) -> str:
    """One English phrase: 45% fixed sentences, 40% word lists, 15% numbers."""
    u = rng.random()
    if u < 0.45:
        return _pick(rng, ENGLISH_SENTENCES)
    if u < 0.85:
        return random_english_sentence(rng)
    return random_number_phrase(rng)


def foreign_phrase(lang: str, rng: np.random.Generator) -> str:
    """One phrase in ``lang``: half fixed sentences, half word shuffles."""
    if rng.random() < 0.5:
        return _pick(rng, FOREIGN_SENTENCES[lang])
    return random_foreign_sentence(lang, rng)
