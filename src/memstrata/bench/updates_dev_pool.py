"""The "dev" template pool of `memstrata bench updates` (tune on this one).

It shares no template, value or name with the "test" pool (`updates_test_pool`), and
has one attribute ("drink") that the test pool lacks. Slots: {v} the value, {a_v}
with its article, {old}/{a_old} the previous value, {who}/{Who} someone else ("my
sister Clara"), {p} the person asked about, {when}/{When} a date, {day} a weekday,
{topic} a neutral subject. The slots each list may use are `updates_pool.SLOTS`.
"""

from __future__ import annotations

from memstrata.bench.updates_pool import Attribute, DateFormat, Pool, gendered, items, lines

CITY = Attribute(
    key="city",
    label="home city",
    values=items("""Lisbon | Kyoto | Nairobi | Oslo | Lima | Hanoi | Krakow | Seville | Lyon |
        Naples | Ghent | Hamburg | Vienna | Zagreb | Tallinn | Helsinki | Galway | Edinburgh |
        Montreal | Seattle | Denver | Bogota | Quito | Recife | Marrakesh | Amman | Tashkent |
        Colombo | Busan | Taipei | Hobart | Wellington"""),
    state=lines("""
        I live in {v}.
        I've been living in {v} for about three years now.
        Home for me is {v}, in a small flat near the station.
        We rent a place on the east side of {v}.
    """),
    change=lines("""
        I moved to {v} last month!
        Big news: we relocated to {v} a couple of weeks ago.
        I've left {old} and settled in {v}.
    """),
    negate=lines("""
        I don't live in {old} anymore, I'm in {v} now.
        No more {old} for me; {v} is home these days.
    """),
    indirect=lines("""
        Still getting lost on the streets of {v} since the move.
        Finally unpacked the last boxes in our new place in {v}.
    """),
    prompt=lines("""
        So where are you living these days?
        Which city are you in at the moment?
    """),
    answer=lines("""
        {v}, for a few weeks now.
        Oh, I'm in {v} now.
    """),
    other=lines("""
        {Who} lives in {v}.
        {Who} just moved to {v}.
        {Who} has a house in {v}.
    """),
    plan=lines("""
        Sometimes I daydream about moving to {v}.
        We looked at flats in {v}, but it's too pricey for now.
    """),
    past=lines("""
        Back when I lived in {old}, I walked everywhere.
        I miss the bakeries in {old} sometimes.
    """),
    ask_now=lines("""
        Where does {p} live now?
        What city is {p} based in?
        Which city does {p} currently call home?
    """),
    ask_before=lines("""
        Where did {p} live before {v}?
        Which city was {p} in before moving to {v}?
    """),
    ask_at=lines("""
        Where did {p} live {when}?
        Which city was home to {p} {when}?
    """),
)

JOB = Attribute(
    key="job",
    label="occupation",
    values=items("""nurse | software developer | architect | pharmacist | electrician |
        accountant | physiotherapist | graphic designer | primary school teacher | chef |
        paramedic | librarian | data analyst | carpenter | veterinarian | translator |
        journalist | dentist | pilot | barista"""),
    state=lines("""
        I work as {a_v}.
        I'm {a_v}, have been for years.
        My job? I'm {a_v} at a place downtown.
    """),
    change=lines("""
        I switched careers and I'm {a_v} now.
        I retrained and started working as {a_v} last week.
        After years as {a_old}, I've become {a_v}.
    """),
    negate=lines("""
        I'm not {a_old} anymore; these days I work as {a_v}.
        I no longer work as {a_old}. I'm {a_v} now.
    """),
    indirect=lines("""
        First week on the job as {a_v} and my feet hurt already.
        My name badge says {v} now, still feels odd.
    """),
    prompt=lines("""
        What are you doing for work these days?
        Still in the same line of work?
    """),
    answer=lines("""
        I'm {a_v} now, actually.
        Working as {a_v} these days.
    """),
    other=lines("""
        {Who} works as {a_v}.
        {Who} is training to be {a_v}.
        {Who} just got hired as {a_v}.
    """),
    plan=lines("""
        I've been wondering whether I'd make a good {v}.
        Part of me wants to retrain as {a_v} someday.
    """),
    past=lines("""
        When I was {a_old}, I never had weekends off.
        I don't miss my {old} days at all.
    """),
    ask_now=lines("""
        What does {p} do for a living?
        What is {p}'s job now?
        What's {p}'s occupation these days?
    """),
    ask_before=lines("""
        What did {p} do for work before becoming {a_v}?
        What was {p}'s job before the switch to {v}?
    """),
    ask_at=lines("""
        What was {p}'s job {when}?
        What did {p} work as {when}?
    """),
)

EMPLOYER = Attribute(
    key="employer",
    label="employer",
    values=items("""Brightwave | Kestrel Logistics | Northwind Foods | Halcyon Health |
        Ferro Robotics | Bluepeak Insurance | Marlow and Finch | Ostara Energy | Tidewater Bank |
        Quillon Games | Larkspur Media | Copperleaf Studios | Vantage Rail | Greenhollow Farms |
        Silverline Telecom"""),
    state=lines("""
        I work at {v}.
        I've been at {v} for two years now.
        My employer is {v}, the office is near the river.
    """),
    change=lines("""
        I started a new job at {v} this week!
        I left {old} and joined {v}.
        I accepted an offer from {v} a few days ago.
    """),
    negate=lines("""
        I'm no longer at {old}; I work for {v} now.
        Not at {old} any more, I'm with {v} these days.
    """),
    indirect=lines("""
        My first payslip from {v} arrived today.
        The onboarding at {v} is endless, so many trainings.
    """),
    prompt=lines("""
        Where are you working at the moment?
        Which company are you with now?
    """),
    answer=lines("""
        At {v} now, for a little while.
        I'm with {v} these days.
    """),
    other=lines("""
        {Who} works for {v}.
        {Who} got a job at {v}.
        {Who} has been at {v} for ages.
    """),
    plan=lines("""
        I applied to {v}, but I doubt I'll hear back.
        A recruiter from {v} keeps emailing me.
    """),
    past=lines("""
        At {old} we had free lunches, I miss that.
        My old team at {old} sent me a card.
    """),
    ask_now=lines("""
        Where does {p} work now?
        Which company does {p} work for?
        Who is {p}'s employer?
    """),
    ask_before=lines("""
        Where did {p} work before {v}?
        Which company was {p} with before joining {v}?
    """),
    ask_at=lines("""
        Where did {p} work {when}?
        Which company was {p} working for {when}?
    """),
)

PARTNER = Attribute(
    key="partner",
    label="partner",
    values=items("""Marco | Helena | Sam | Jordan | Aiko | Lucas | Freya | Nikolai | Rosa |
        Elliot | Mira | Tobias | Selma | Adrian"""),
    state=lines("""
        My partner {v} and I just celebrated our anniversary.
        I'm seeing someone, {v}, and it's going well.
        {v} and I have been together for a while now.
    """),
    change=lines("""
        {old} and I broke up, and now I'm dating {v}.
        I've started seeing {v}, it's still early days.
        I met {v} at a friend's party and we're together now.
    """),
    negate=lines("""
        {old} and I aren't together anymore. I'm with {v} now.
        I'm not seeing {old} any longer; {v} and I are a couple.
    """),
    indirect=lines("""
        {v} cooked dinner for me last night, so sweet.
        I'm meeting {v}'s parents on {day}, wish me luck.
    """),
    prompt=lines("""
        Are you seeing anyone at the moment?
        How's your love life these days?
    """),
    answer=lines("""
        Yes, {v}, and it's going well.
        I'm with {v} now, actually.
    """),
    other=lines("""
        {Who} is dating {v}.
        {Who} just got engaged to {v}.
        {Who} has been married to {v} for years.
    """),
    plan=lines("""
        I think {v} from the gym might like me.
        I almost asked {v} out, but I chickened out.
    """),
    past=lines("""
        {old} used to make me breakfast every Sunday.
        I ran into {old} at the market, so awkward.
    """),
    ask_now=lines("""
        Who is {p}'s partner now?
        Who is {p} dating?
        Who is {p} in a relationship with?
    """),
    ask_before=lines("""
        Who was {p} with before {v}?
        Who did {p} date before {v}?
    """),
    ask_at=lines("""
        Who was {p} dating {when}?
        Who was {p}'s partner {when}?
    """),
)

CAR = Attribute(
    key="car",
    label="car",
    values=items("""Toyota Corolla | Volvo V60 | Skoda Octavia | Honda Civic | Mazda 3 | Kia Niro |
        Renault Clio | Ford Focus | Tesla Model 3 | Subaru Outback | Fiat Panda | Nissan Leaf"""),
    state=lines("""
        I drive {a_v}.
        My car is {a_v}, it's old but reliable.
        I get around in {a_v}.
    """),
    change=lines("""
        We sold the {old} and got {a_v}.
        I traded in my car for {a_v} last week.
        Picked up my new {v} yesterday!
    """),
    negate=lines("""
        I don't have the {old} anymore, I drive {a_v} now.
        No more {old}; I switched to {a_v}.
    """),
    indirect=lines("""
        The {v} is so much quieter on the motorway.
        Still figuring out all the buttons in the {v}.
    """),
    prompt=lines("""
        What are you driving these days?
        Did you ever replace your car?
    """),
    answer=lines("""
        {a_v} now, and I love it.
        I'm driving {a_v} these days.
    """),
    other=lines("""
        {Who} drives {a_v}.
        {Who} just bought {a_v}.
        {Who} keeps talking about their {v}.
    """),
    plan=lines("""
        I test-drove {a_v} but didn't buy it.
        I've been eyeing {a_v}, but it's out of budget.
    """),
    past=lines("""
        The {old} never let me down on long trips.
        I found an old parking ticket from my {old} days.
    """),
    ask_now=lines("""
        What car does {p} drive now?
        What is {p}'s current car?
        Which car does {p} have?
    """),
    ask_before=lines("""
        What car did {p} drive before the {v}?
        What did {p} have before getting the {v}?
    """),
    ask_at=lines("""
        What car did {p} drive {when}?
        Which car did {p} have {when}?
    """),
)

PHONE = Attribute(
    key="phone",
    label="phone",
    values=items("""iPhone 13 | Pixel 7 | Galaxy S22 | Fairphone 4 | OnePlus 10 | Nokia G21 |
        Asus Zenfone 9 | Moto Edge | Realme 11"""),
    state=lines("""
        I use {a_v}.
        My phone is {a_v} and the battery is dying.
        I've had my {v} for ages.
    """),
    change=lines("""
        I switched to {a_v} last week.
        Finally upgraded to {a_v}!
        I gave my {old} to my nephew and got {a_v}.
    """),
    negate=lines("""
        I'm not on the {old} anymore, I've got {a_v} now.
        Ditched the {old}; {a_v} is my phone now.
    """),
    indirect=lines("""
        Setting up the {v} took me all evening.
        The camera on the {v} is unreal.
    """),
    prompt=lines("""
        What phone are you using now?
        Did you get a new phone in the end?
    """),
    answer=lines("""
        I've got {a_v} now.
        It's {a_v} at the moment.
    """),
    other=lines("""
        {Who} uses {a_v}.
        {Who} got {a_v} for their birthday.
        {Who} swears by the {v}.
    """),
    plan=lines("""
        I might get {a_v} when the price drops.
        I keep reading reviews of the {v}.
    """),
    past=lines("""
        My {old} had the best battery I've ever seen.
        I still have the charger for my {old} somewhere.
    """),
    ask_now=lines("""
        What phone does {p} use now?
        Which phone does {p} have?
        What is {p}'s current phone?
    """),
    ask_before=lines("""
        What phone did {p} use before the {v}?
        Which phone did {p} have before switching to the {v}?
    """),
    ask_at=lines("""
        What phone did {p} use {when}?
        Which phone did {p} have {when}?
    """),
)

DIET = Attribute(
    key="diet",
    label="diet",
    values=items("vegetarian | vegan | pescatarian | keto | gluten-free | low-carb | paleo"),
    state=lines("""
        I'm {v}.
        I eat {v}, mostly home-cooked.
        I've been {v} since university.
    """),
    change=lines("""
        I've gone {v} as of last month.
        I switched to {a_v} diet recently.
        After reading a lot about it, I became {v}.
    """),
    negate=lines("""
        I'm not {old} anymore, I'm {v} now.
        I no longer follow {a_old} diet; I'm {v} these days.
    """),
    indirect=lines("""
        Cooked my first fully {v} dinner party, nobody complained.
        My shopping basket looks very {v} these days.
    """),
    prompt=lines("""
        Are you still eating the same way?
        What's your diet like these days?
    """),
    answer=lines("""
        Pretty much {v} now.
        I'm {v} at the moment.
    """),
    other=lines("""
        {Who} is {v}.
        {Who} went {v} this year.
        {Who} has been {v} for a decade.
    """),
    plan=lines("""
        I've been curious about trying {a_v} diet.
        Maybe I'll try going {v} for a month.
    """),
    past=lines("""
        When I was {old}, I cooked a lot more lentils.
        I used to be strict about being {old}.
    """),
    ask_now=lines("""
        What diet does {p} follow now?
        How does {p} eat these days?
        What kind of diet is {p} on?
    """),
    ask_before=lines("""
        What diet did {p} follow before going {v}?
        How did {p} eat before becoming {v}?
    """),
    ask_at=lines("""
        What diet was {p} following {when}?
        How did {p} eat {when}?
    """),
)

HOBBY = Attribute(
    key="hobby",
    label="hobby",
    values=items("""pottery | rock climbing | birdwatching | knitting | woodworking |
        photography | gardening | chess | sourdough baking | salsa dancing | sketching |
        fly fishing"""),
    state=lines("""
        My favourite hobby is {v}.
        I spend most weekends on {v}.
        I've been into {v} for years.
    """),
    change=lines("""
        I've taken up {v}.
        These days I spend my free time on {v}.
        I switched from {old} to {v}.
    """),
    negate=lines("""
        I don't do {old} anymore; {v} is my thing now.
        I gave up {old} and started {v}.
    """),
    indirect=lines("""
        Just signed up for {a_v} club that meets on {day}s.
        Bought all the gear for {v}, my wallet is crying.
    """),
    prompt=lines("""
        What do you do in your free time now?
        Got any new hobbies?
    """),
    answer=lines("""
        Mostly {v} now.
        Lots of {v} lately.
    """),
    other=lines("""
        {Who} is really into {v}.
        {Who} started {v} this year.
        {Who} spends every weekend on {v}.
    """),
    plan=lines("""
        I've always wanted to try {v}.
        A friend keeps inviting me to try {v}.
    """),
    past=lines("""
        I still have my {old} stuff in the attic.
        Back in my {old} phase I was out every weekend.
    """),
    ask_now=lines("""
        What is {p}'s hobby now?
        What does {p} do for fun these days?
        How does {p} spend free time now?
    """),
    ask_before=lines("""
        What hobby did {p} have before {v}?
        What did {p} do for fun before taking up {v}?
    """),
    ask_at=lines("""
        What was {p}'s hobby {when}?
        What did {p} do in spare time {when}?
    """),
)

SCHOOL = Attribute(
    key="school",
    label="school",
    values=items("""Riverside College | Hillcrest University | Eastfield Polytechnic |
        Bramley Academy of Art | Westmoor Technical College | Calder Business School |
        Ashford Nursing School | Kingsbridge University"""),
    state=lines("""
        I'm studying at {v}.
        I'm a part-time student at {v}.
        I take evening classes at {v}.
    """),
    change=lines("""
        I transferred to {v} this term.
        I got into {v} and started last week.
        I've left {old} and enrolled at {v}.
    """),
    negate=lines("""
        I'm not at {old} anymore, I study at {v} now.
        No longer a student at {old}; I'm at {v} now.
    """),
    indirect=lines("""
        My student card for {v} finally arrived.
        The library at {v} is open all night, which helps.
    """),
    prompt=lines("""
        Where are you studying now?
        Are you still at the same school?
    """),
    answer=lines("""
        At {v} now.
        I'm enrolled at {v} these days.
    """),
    other=lines("""
        {Who} studies at {v}.
        {Who} got accepted to {v}.
        {Who} teaches at {v}.
    """),
    plan=lines("""
        I went to an open day at {v}.
        I'm thinking of applying to {v} next year.
    """),
    past=lines("""
        My old classmates from {old} still message me.
        The canteen at {old} was terrible.
    """),
    ask_now=lines("""
        Where does {p} study now?
        Which school is {p} enrolled at?
        What school does {p} attend?
    """),
    ask_before=lines("""
        Where did {p} study before {v}?
        Which school was {p} at before moving to {v}?
    """),
    ask_at=lines("""
        Where was {p} studying {when}?
        Which school did {p} attend {when}?
    """),
)

SPORT = Attribute(
    key="sport",
    label="sport",
    values=items("""tennis | squash | badminton | volleyball | rugby | basketball | handball |
        cricket | padel"""),
    state=lines("""
        I play {v} twice a week.
        I'm on {a_v} team at the local club.
        {v} is my sport; I play most {day}s.
    """),
    change=lines("""
        I switched from {old} to {v}.
        I joined {a_v} club last week.
        These days I play {v} instead.
    """),
    negate=lines("""
        I quit {old} and play {v} now.
        I don't play {old} anymore; it's {v} for me.
    """),
    indirect=lines("""
        My new {v} shoes gave me blisters.
        We won our first {v} match on {day}!
    """),
    prompt=lines("""
        Still playing sports?
        What sport are you into these days?
    """),
    answer=lines("""
        {v}, mostly.
        I'm playing {v} now.
    """),
    other=lines("""
        {Who} plays {v}.
        {Who} coaches {a_v} team.
        {Who} joined {a_v} league.
    """),
    plan=lines("""
        I might give {v} a go.
        A colleague is trying to get me into {v}.
    """),
    past=lines("""
        I still have my old {old} kit somewhere.
        When I played {old} I was always injured.
    """),
    ask_now=lines("""
        What sport does {p} play now?
        Which sport is {p} into?
        What sport does {p} practise these days?
    """),
    ask_before=lines("""
        What sport did {p} play before {v}?
        Which sport did {p} do before switching to {v}?
    """),
    ask_at=lines("""
        What sport did {p} play {when}?
        Which sport was {p} playing {when}?
    """),
)

INSTRUMENT = Attribute(
    key="instrument",
    label="instrument",
    values=items("cello | violin | ukulele | piano | saxophone | drums | trumpet | harp | banjo"),
    state=lines("""
        I play the {v}.
        I've been learning the {v} for a year.
        I practise the {v} every evening.
    """),
    change=lines("""
        I've switched to the {v}.
        I started lessons on the {v} last week.
        I sold my {old} and bought {a_v}.
    """),
    negate=lines("""
        I don't play the {old} anymore; I'm on the {v} now.
        I've put the {old} away for good, it's the {v} now.
    """),
    indirect=lines("""
        My neighbours are not thrilled about my {v} practice.
        My {v} teacher says I'm a natural.
    """),
    prompt=lines("""
        Still making music?
        What are you playing these days, music-wise?
    """),
    answer=lines("""
        The {v}, mostly.
        I'm learning the {v} now.
    """),
    other=lines("""
        {Who} plays the {v}.
        {Who} teaches {v} lessons.
        {Who} bought {a_v}.
    """),
    plan=lines("""
        I've always fancied learning the {v}.
        I watched {a_v} concert and now I want one.
    """),
    past=lines("""
        My old {old} is gathering dust.
        I played the {old} at my cousin's wedding once.
    """),
    ask_now=lines("""
        What instrument does {p} play now?
        Which instrument is {p} learning?
        What does {p} play these days, music-wise?
    """),
    ask_before=lines("""
        What instrument did {p} play before the {v}?
        Which instrument did {p} learn before switching to the {v}?
    """),
    ask_at=lines("""
        What instrument was {p} playing {when}?
        Which instrument did {p} play {when}?
    """),
)

LANGUAGE = Attribute(
    key="language",
    label="language being learnt",
    values=items("Japanese | Portuguese | Korean | Italian | Swahili | Dutch | Polish | Turkish"),
    state=lines("""
        I'm learning {v}.
        I take {v} classes on {day}s.
        I'm studying {v} with an app every morning.
    """),
    change=lines("""
        I switched from {old} to {v}.
        I've started learning {v} instead.
        I dropped {old} and signed up for {v} lessons.
    """),
    negate=lines("""
        I'm not studying {old} anymore; {v} is my language now.
        No more {old} lessons, I'm learning {v}.
    """),
    indirect=lines("""
        I can finally order coffee in {v}!
        My {v} tutor gave me so much homework.
    """),
    prompt=lines("""
        Which language are you learning now?
        How's the language learning going?
    """),
    answer=lines("""
        {v} now, it's hard.
        I'm on {v} at the moment.
    """),
    other=lines("""
        {Who} speaks fluent {v}.
        {Who} is learning {v}.
        {Who} teaches {v}.
    """),
    plan=lines("""
        I'd love to learn {v} someday.
        I bought {a_v} phrasebook on a whim.
    """),
    past=lines("""
        I've already forgotten most of my {old}.
        My {old} textbook is still on the shelf.
    """),
    ask_now=lines("""
        What language is {p} learning now?
        Which language does {p} study?
        What language is {p} studying these days?
    """),
    ask_before=lines("""
        What language did {p} study before {v}?
        Which language was {p} learning before {v}?
    """),
    ask_at=lines("""
        What language was {p} learning {when}?
        Which language was {p} studying {when}?
    """),
)

DRINK = Attribute(
    key="drink",
    label="morning drink",
    values=items("black coffee | green tea | matcha | espresso | yerba mate | chai | rooibos"),
    state=lines("""
        I start every day with {v}.
        My morning drink is {v}.
        I can't function without my {v} in the morning.
    """),
    change=lines("""
        I swapped my morning {old} for {v}.
        These days I drink {v} in the morning.
        I switched to {v} at breakfast.
    """),
    negate=lines("""
        No more {old} in the morning; I have {v} now.
        I've given up {old}, it's {v} every morning.
    """),
    indirect=lines("""
        Bought a fancy mug just for my morning {v}.
        The cafe downstairs knows my {v} order by heart.
    """),
    prompt=lines("""
        What's your morning drink these days?
        Still starting the day with the same drink?
    """),
    answer=lines("""
        {v}, every morning.
        It's {v} now.
    """),
    other=lines("""
        {Who} drinks {v} every morning.
        {Who} is obsessed with {v}.
        {Who} brought me some {v} to try.
    """),
    plan=lines("""
        I've heard {v} is good for focus, might try it.
        Someone recommended {v} to me.
    """),
    past=lines("""
        I really miss my morning {old} sometimes.
        I used to drink three cups of {old} a day.
    """),
    ask_now=lines("""
        What does {p} drink in the morning now?
        What is {p}'s morning drink?
        What does {p} start the day with?
    """),
    ask_before=lines("""
        What did {p} drink in the morning before {v}?
        What was {p}'s morning drink before switching to {v}?
    """),
    ask_at=lines("""
        What did {p} drink in the morning {when}?
        What was {p}'s morning drink {when}?
    """),
)

POOL = Pool(
    split="dev",
    people=items("""Alice | Bruno | Chiara | Dev | Elif | Farah | Gustav | Hina | Ivo | Jana |
        Kofi | Lena | Marek | Nadia | Oren | Paola | Quentin | Rhea | Soren | Talia | Umar |
        Vesna | Wiebke | Xavier | Yasmin | Zeno | Amaia | Bjorn | Cyrus | Dunja"""),
    others=gendered("""Clara:f | Tom:m | Priya:f | Jonas:m | Mei:f | Luca:m | Sara:f | Ben:m |
        Ines:f | Omar:m | Kasia:f | Raj:m | Hugo:m | Lotte:f | Sami | Greta:f | Felix:m | Noor:f |
        Pablo:m | Vera:f | Alex | Charlie"""),
    relations=gendered("""sister:f | brother:m | cousin | colleague | neighbour | flatmate |
        best friend | boss | mum:f | dad:m"""),
    topics=items("""volcanoes | octopuses | medieval castles | deep-sea creatures |
        the moon landing | honeybees | ancient Rome | glaciers | jazz | dinosaurs | lighthouses |
        the Silk Road"""),
    dates=(
        DateFormat("month", "in {month} {year}"),
        DateFormat("day", "on {day} {month} {year}"),
        DateFormat("month", "during {month} {year}"),
    ),
    greetings=lines("""
        Hey, how's it going?
        Morning! Got a minute?
        Hi again!
        Hello, it's me again.
        Good evening!
        Happy {day}!
    """),
    welcomes=lines("""
        Hi! Always happy to chat.
        Good to hear from you.
        Hey! What's new?
        Hello hello, how are things?
    """),
    small_talk=lines("""
        It's been raining all week here.
        I watched a documentary about {topic} last night.
        Work was hectic on {day}, glad it's over.
        I finally fixed the squeaky door in the hallway.
        Do you have any podcast recommendations?
        I burnt the toast again this morning.
        My plants are finally growing back after the frost.
        I spent the whole weekend reading about {topic}.
        The traffic this morning was unbelievable.
        I've been sleeping badly, too much screen time maybe.
        We had a power cut on {day} evening.
        I'm trying to drink more water.
        Have you seen that new series everyone talks about?
        Just got back from a long walk by the river.
        I can't believe it's already {day} again.
        A friend lent me a book on {topic}, it's fascinating.
    """),
    small_replies=lines("""
        Ha, same here.
        That sounds exhausting.
        Oh, tell me more!
        Nice, I might try that too.
        Fair enough, it happens.
        Hope the rest of the week is calmer.
        Interesting! I didn't know much about that.
        Sounds like a good way to unwind.
    """),
    replies=lines("""
        Oh wow, that's a big change.
        Nice! How are you finding it?
        Good for you.
        I had no idea, thanks for telling me.
        That must feel strange at first.
        Congrats, honestly.
        How did that come about?
        Thanks for letting me know, I'll keep that in mind.
    """),
    echoes=lines("""
        Ooh, {v}! Nice.
        Wait, {v}? Since when?
        I hear good things about {v}.
    """),
    attributes=(
        CITY,
        JOB,
        EMPLOYER,
        PARTNER,
        CAR,
        PHONE,
        DIET,
        HOBBY,
        SCHOOL,
        SPORT,
        INSTRUMENT,
        LANGUAGE,
        DRINK,
    ),
)
