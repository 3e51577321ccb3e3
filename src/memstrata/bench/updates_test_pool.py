"""The "test" template pool of `memstrata bench updates` (measure on this one; never
tune on it).

Written apart from the "dev" pool (`updates_dev_pool`): no template, value or name in
common, other sentence shapes (longer, chattier, the value later in the sentence,
fewer of the dev pool's verbs), other ways of naming a date ("on March 14, 2024",
"in mid-March 2024"), and two attributes the dev pool lacks ("commute", "gym") while
it lacks the dev pool's "drink". Slots as in `updates_pool.SLOTS`.
"""

from __future__ import annotations

from memstrata.bench.updates_pool import Attribute, DateFormat, Pool, gendered, items, lines

CITY = Attribute(
    key="city",
    label="home city",
    values=items("""Osaka | Lagos | Bergen | Cusco | Tbilisi | Gdansk | Bilbao | Valencia |
        Marseille | Bordeaux | Palermo | Bologna | Utrecht | Leipzig | Munich | Graz | Ljubljana |
        Riga | Vilnius | Turku | Cork | Glasgow | Halifax | Vancouver | Portland | Austin |
        Medellin | Santiago | Montevideo | Tunis | Beirut | Almaty | Kandy | Penang | Sapporo |
        Perth | Dunedin"""),
    state=lines("""
        Our flat in {v} is tiny but the view makes up for it.
        I grew up elsewhere, but {v} has been my base for ages.
        Rent in {v} keeps going up, and I still wouldn't live anywhere else.
    """),
    change=lines("""
        The removal van came on {day} and now we're officially {v} residents.
        Signed the lease, packed the car, and here I am in {v}.
        Said goodbye to {old}; my new address is in {v}.
    """),
    negate=lines("""
        {old} is not home any longer, the keys went back to the landlord and I'm down in {v}.
        Nobody in {old} will see me at the corner shop now, because I live in {v}.
    """),
    indirect=lines("""
        Registered with a doctor in {v} today, which makes the move feel real.
        The neighbours here in {v} brought us a plant as a welcome.
    """),
    prompt=lines("""
        Remind me, what city are you in now?
        Did you end up staying put or moving?
    """),
    answer=lines("""
        Living in {v}, since a short while.
        Moved, yes, to {v}.
    """),
    other=lines("""
        {Who} has settled in {v} with the kids.
        {Who} rents a room in {v} during the week.
        {Who} keeps sending me photos from {v}, where they live now.
    """),
    plan=lines("""
        If the job offer comes through I could end up in {v}, but I doubt it.
        A weekend in {v} made me wonder what living there would be like.
    """),
    past=lines("""
        During my years in {old} I never once owned an umbrella.
        Found a tram ticket from {old} in an old coat pocket.
    """),
    ask_now=lines("""
        In which city is {p} living at present?
        {p} lives where these days?
    """),
    ask_before=lines("""
        Before {v}, which city was {p}'s home?
        What was {p}'s home city prior to {v}?
    """),
    ask_at=lines("""
        {When}, which city did {p} live in?
        What was {p}'s home city {when}?
    """),
)

JOB = Attribute(
    key="job",
    label="occupation",
    values=items("""midwife | civil engineer | radiographer | plumber | actuary |
        occupational therapist | lecturer | baker | firefighter | archivist | statistician |
        welder | zookeeper | interpreter | copywriter | optometrist | air traffic controller |
        sommelier | surveyor | landscape gardener"""),
    state=lines("""
        Being {a_v} pays the bills, and most days I even enjoy it.
        People are surprised when I tell them I earn my living as {a_v}.
        My whole week revolves around shifts as {a_v}.
    """),
    change=lines("""
        New chapter: I handed in my notice and I'm now working as {a_v}.
        The career change went through, so officially I'm {a_v}.
        It took a year of night classes, but I'm finally {a_v}.
    """),
    negate=lines("""
        I've stopped working as {a_old} for good, I'm {a_v} now.
        Being {a_old} is behind me; my contract says {v}.
    """),
    indirect=lines("""
        The uniform they gave me for the {v} job is a bit big.
        My first month as {a_v} has been a steep learning curve.
    """),
    prompt=lines("""
        And work? Same job as before?
        What's keeping you busy job-wise?
    """),
    answer=lines("""
        Nope, {a_v} now.
        These days the job title is {v}.
    """),
    other=lines("""
        {Who} earns a living as {a_v}.
        {Who} finished the course and is {a_v} now.
        {Who} has worked as {a_v} for twenty years.
    """),
    plan=lines("""
        Someone told me I'd be great as {a_v}, which got me thinking.
        I looked up what it takes to become {a_v}, just out of curiosity.
    """),
    past=lines("""
        My {old} years taught me patience, I'll say that.
        A former client from my time as {a_old} recognised me today.
    """),
    ask_now=lines("""
        What is {p}'s current line of work?
        How does {p} earn a living at present?
    """),
    ask_before=lines("""
        Before working as {a_v}, what was {p}'s profession?
        What line of work was {p} in prior to becoming {a_v}?
    """),
    ask_at=lines("""
        {When}, what was {p}'s profession?
        What line of work did {p} do {when}?
    """),
)

EMPLOYER = Attribute(
    key="employer",
    label="employer",
    values=items("""Redcliff Analytics | Amberfield Pharma | Nimbus Aerospace |
        Oakridge Publishing | Saltmarsh Brewing | Pinecrest Hospital | Ironbridge Consulting |
        Lumen Optics | Westbrook Freight | Cobalt Fintech | Heron Shipping | Starling Labs |
        Driftwood Hotels | Granite Builders | Mosaic Learning"""),
    state=lines("""
        The commute to {v} is long, but the team there is lovely.
        I've been on the payroll at {v} since before the pandemic.
        Everyone at {v} is stressed about the big launch.
    """),
    change=lines("""
        Handed in my badge and laptop on {day}; from Monday I'm on the {v} team.
        My contract with {v} starts this month, the old place is history.
        Said goodbye to my colleagues at {old} and went over to {v}.
    """),
    negate=lines("""
        {old} and I parted ways, and now {v} signs my paychecks.
        I'm not employed by {old} any more; {v} hired me.
    """),
    indirect=lines("""
        Got my {v} email address and a mug with the logo today.
        My manager at {v} already trusts me with the client calls.
    """),
    prompt=lines("""
        Are you still with the same company?
        Who are you working for now?
    """),
    answer=lines("""
        No, I'm at {v} now.
        A place called {v}, since recently.
    """),
    other=lines("""
        {Who} is on the payroll at {v}.
        {Who} was headhunted by {v} last year.
        {Who} runs a department at {v}.
    """),
    plan=lines("""
        I had an interview at {v}; they haven't called back.
        There's an opening at {v} that looks tempting, though I won't apply.
    """),
    past=lines("""
        The Christmas parties at {old} were legendary.
        An old colleague from {old} invited me for drinks.
    """),
    ask_now=lines("""
        For which company does {p} currently work?
        What is the name of {p}'s employer at the moment?
    """),
    ask_before=lines("""
        Prior to {v}, who was {p}'s employer?
        Which firm did {p} work for until joining {v}?
    """),
    ask_at=lines("""
        {When}, who employed {p}?
        Which firm had {p} on its payroll {when}?
    """),
)

PARTNER = Attribute(
    key="partner",
    label="partner",
    values=items("""Ingrid | Mateus | Robin | Cleo | Hector | Naomi | Kenji | Alba | Idris | Juno |
        Petra | Rafferty | Esme | Laszlo"""),
    state=lines("""
        {v} and I are planning a trip for our third anniversary.
        Living with {v} has taught me to share the duvet.
        Everyone says {v} and I are the perfect couple.
    """),
    change=lines("""
        It's over with {old}. I've been going out with {v} for a month, and it's lovely.
        Guess who has a new boyfriend or girlfriend? Me, and the name is {v}.
        {v} asked me out after the concert, and we've been together since.
    """),
    negate=lines("""
        Me and {old} are done, for real. {v} is the one I'm with now.
        I'm single no more, but it's not {old}; it's {v}.
    """),
    indirect=lines("""
        {v} surprised me with breakfast in bed this morning.
        Spent the whole weekend with {v}, and we didn't leave the sofa.
    """),
    prompt=lines("""
        Anyone special in your life right now?
        Are you still with the same person?
    """),
    answer=lines("""
        There is, {v}.
        Not the same one, no, it's {v} now.
    """),
    other=lines("""
        {Who} and {v} are moving in together.
        {Who} introduced me to {v}, the person they're dating.
        {Who} is getting married to {v} in the autumn.
    """),
    plan=lines("""
        I keep bumping into {v} at the library, and I think there's a spark.
        Maybe I'll ask {v} for coffee, maybe not.
    """),
    past=lines("""
        {old} and I had a great dog together, I still miss him.
        Saw a film that {old} and I used to love, it made me sad.
    """),
    ask_now=lines("""
        Who is {p} going out with at present?
        Who is {p}'s current girlfriend or boyfriend?
    """),
    ask_before=lines("""
        Prior to {v}, who was {p} going out with?
        Who was {p}'s partner until {v} came along?
    """),
    ask_at=lines("""
        {When}, who was {p} going out with?
        Who was {p} seeing {when}?
    """),
)

CAR = Attribute(
    key="car",
    label="car",
    values=items("""Hyundai Kona | Peugeot 208 | Volkswagen Golf | Audi A4 | Seat Ibiza |
        Citroen C3 | Mini Cooper | Toyota Prius | Dacia Duster | Polestar 2 | Mercedes A-Class |
        Jeep Renegade | Opel Corsa"""),
    state=lines("""
        The {v} in my driveway is older than some of my colleagues.
        Parking the {v} in town is always a nightmare.
        My {v} just passed its inspection again.
    """),
    change=lines("""
        The dealer took the {old} off my hands, and I drove home in {a_v}.
        Out with the old car: there's a shiny {v} outside now.
        Bought myself {a_v} on {day}, and it still smells new.
    """),
    negate=lines("""
        I haven't had the {old} for weeks, it was sold; I'm driving {a_v}.
        The {old} is gone, and the car I drive now is {a_v}.
    """),
    indirect=lines("""
        Filled up the {v} for the first time and it barely drank anything.
        The kids already spilled juice in the back of the {v}.
    """),
    prompt=lines("""
        Still driving that old car of yours?
        Did you end up buying a new car?
    """),
    answer=lines("""
        No, I've got {a_v} now.
        I got {a_v}, in the end.
    """),
    other=lines("""
        {Who} leased {a_v} for the year.
        {Who} crashed their {v} into a bollard, nobody was hurt.
        {Who} has {a_v} that's always in the garage.
    """),
    plan=lines("""
        I looked at {a_v} in the showroom, but it's not for me right now.
        If I ever win the lottery I'll get {a_v}.
    """),
    past=lines("""
        I took the {old} on so many road trips.
        Someone asked me if I still had the {old}, and I laughed.
    """),
    ask_now=lines("""
        What vehicle does {p} currently drive?
        What car is parked in {p}'s driveway these days?
    """),
    ask_before=lines("""
        Prior to the {v}, what was {p}'s car?
        Which vehicle did {p} own until buying the {v}?
    """),
    ask_at=lines("""
        {When}, what car was {p} driving?
        Which vehicle did {p} own {when}?
    """),
)

PHONE = Attribute(
    key="phone",
    label="phone",
    values=items("""iPhone 15 | Pixel 8a | Galaxy A54 | Moto G84 | Nothing Phone 2 |
        Xiaomi 13 | Galaxy Z Flip | Sony Xperia 10 | Huawei P60"""),
    state=lines("""
        The screen on my {v} has a crack, but it still works fine.
        I take all my photos with the {v} I carry around.
        Everything I own syncs with my {v}.
    """),
    change=lines("""
        My contract renewed and the shop gave me {a_v}.
        Dropped the {old} in the sea, so now I've got {a_v}.
        I'm texting you from a brand-new {v}, by the way.
    """),
    negate=lines("""
        Not using the {old} these days, I carry {a_v} now.
        The {old} went in a drawer, and my everyday phone is {a_v}.
    """),
    indirect=lines("""
        Still moving my photos over to the {v}.
        The {v} battery lasts me two full days.
    """),
    prompt=lines("""
        Is that a new phone I see?
        Still on the same phone?
    """),
    answer=lines("""
        Yep, it's {a_v} now.
        Got {a_v} since then.
    """),
    other=lines("""
        {Who} dropped their {v} in the bath, and it survived.
        {Who} upgraded to {a_v} on launch day.
        {Who} can't stop showing off the camera of their {v}.
    """),
    plan=lines("""
        The {v} is on sale, but I'll resist.
        I watched an unboxing video of the {v}.
    """),
    past=lines("""
        My old {old} survived three falls down the stairs.
        Found my old {old} in a drawer, with the photos from the holiday.
    """),
    ask_now=lines("""
        What smartphone does {p} currently carry?
        Which handset is {p} using at present?
    """),
    ask_before=lines("""
        Prior to the {v}, which phone did {p} carry?
        What handset did {p} use until the {v}?
    """),
    ask_at=lines("""
        {When}, which phone did {p} carry?
        What handset was {p} using {when}?
    """),
)

DIET = Attribute(
    key="diet",
    label="diet",
    values=items("""flexitarian | dairy-free | plant-based | lacto-ovo | low-sugar |
        Mediterranean | macrobiotic"""),
    state=lines("""
        Eating {v} suits me, my doctor is happy with it.
        Friends tease me for being so {v}, but I like it.
        Most of my cooking is {v} and has been for a long time.
    """),
    change=lines("""
        New year, new habits: my meals are {v} now.
        After the health check I changed how I eat and went {v}.
        My fridge is fully {v} since the start of the month.
    """),
    negate=lines("""
        That {old} phase is over; I eat {v} these days.
        Gave up on eating {old}, and {v} is the rule now.
    """),
    indirect=lines("""
        Found a great {v} cookbook, which makes the new diet easy.
        The waiter had never heard of {v} options, which made dinner fun.
    """),
    prompt=lines("""
        Are you still on that special diet?
        How are you eating these days?
    """),
    answer=lines("""
        These days it's {v}.
        Switched, it's {v} now.
    """),
    other=lines("""
        {Who} eats strictly {v}.
        {Who} has gone {v}, which complicates family dinners.
        {Who} cooks everything {v} for the whole family.
    """),
    plan=lines("""
        An article about {v} eating made me curious, but I'm not convinced.
        Maybe {a_v} week would be interesting, one day.
    """),
    past=lines("""
        My {old} recipes are still bookmarked.
        During my {old} months I lost a bit of weight.
    """),
    ask_now=lines("""
        Which way of eating does {p} follow at present?
        What are {p}'s eating habits nowadays?
    """),
    ask_before=lines("""
        Before eating {v}, what was {p}'s diet?
        What way of eating did {p} follow prior to {v}?
    """),
    ask_at=lines("""
        {When}, what was {p}'s diet?
        How was {p} eating {when}?
    """),
)

HOBBY = Attribute(
    key="hobby",
    label="hobby",
    values=items("""calligraphy | bouldering | beekeeping | embroidery | kayaking | stargazing |
        origami | geocaching | model railways | foraging | crossword puzzles | wild swimming"""),
    state=lines("""
        Every spare evening goes to {v}, it's how I unwind.
        My partner rolls their eyes at how much I talk about {v}.
        There's nothing like {v} on a quiet Sunday.
    """),
    change=lines("""
        Lately all my free time goes into {v}, which is new for me.
        My new obsession is {v}, and I'm loving it.
        Traded {old} for {v}, and I don't regret it.
    """),
    negate=lines("""
        Sold all my {old} gear; it's {v} now.
        Not into {old} anymore, and {v} has taken over.
    """),
    indirect=lines("""
        Went to my first {v} meetup and met lovely people.
        My hands are sore from all the {v} this weekend.
    """),
    prompt=lines("""
        What are you into nowadays, outside work?
        Still doing the same hobby?
    """),
    answer=lines("""
        It's all {v} now.
        I switched to {v}.
    """),
    other=lines("""
        {Who} dragged me along to {v} once.
        {Who} won a prize for {v}.
        {Who} is hooked on {v}.
    """),
    plan=lines("""
        {v} looks fun, and I might try it some day.
        There's {a_v} taster session I might sign up for.
    """),
    past=lines("""
        My {old} phase gave me a lot of nice memories.
        Some of my {old} friends still invite me along.
    """),
    ask_now=lines("""
        What pastime is {p} into at present?
        What occupies {p}'s spare time nowadays?
    """),
    ask_before=lines("""
        Before {v}, what pastime was {p} into?
        What was {p}'s favourite pastime prior to {v}?
    """),
    ask_at=lines("""
        {When}, what pastime was {p} into?
        What occupied {p}'s spare time {when}?
    """),
)

SCHOOL = Attribute(
    key="school",
    label="school",
    values=items("""Lakeshore University | Fairhaven College | Summit Tech Institute |
        Millbrook School of Design | Greystone Law School | Harbourview Community College |
        Elmwood Conservatory | Stonegate University"""),
    state=lines("""
        Lectures at {v} start at eight, which is brutal.
        My course at {v} is harder than I expected.
        The campus of {v} is huge, I still get lost.
    """),
    change=lines("""
        The transfer came through, so this semester I'm {a_v} student.
        I start at {v} on {day}, first day nerves already.
        Goodbye {old}, my classes are at {v} now.
    """),
    negate=lines("""
        I've dropped out of {old}, and I'm at {v} instead.
        No longer enrolled at {old}, because {v} accepted me.
    """),
    indirect=lines("""
        Got my {v} hoodie and my timetable today.
        My study group at {v} meets in the basement cafe.
    """),
    prompt=lines("""
        How are your studies going, same place?
        Which school are you at now?
    """),
    answer=lines("""
        Changed, I'm at {v} now.
        Still studying, now at {v}.
    """),
    other=lines("""
        {Who} is doing a master's at {v}.
        {Who} lectures at {v}.
        {Who} just graduated from {v}.
    """),
    plan=lines("""
        {v} sent me a brochure; I'm not sure I'll apply.
        A friend suggested {v}, but it's far away.
    """),
    past=lines("""
        I still wear my {old} sweatshirt.
        Bumped into a professor from {old} at the station.
    """),
    ask_now=lines("""
        At which institution is {p} studying at present?
        Where is {p} enrolled nowadays?
    """),
    ask_before=lines("""
        Prior to {v}, which institution did {p} attend?
        Where was {p} enrolled until the move to {v}?
    """),
    ask_at=lines("""
        {When}, which institution did {p} study at?
        Where was {p} enrolled {when}?
    """),
)

SPORT = Attribute(
    key="sport",
    label="sport",
    values=items("""netball | water polo | ultimate frisbee | field hockey | lacrosse |
        softball | pickleball | futsal | baseball"""),
    state=lines("""
        Our {v} team lost again on {day}, and I still love it.
        Training for {v} eats up my evenings.
        I'm the oldest player in my {v} squad.
    """),
    change=lines("""
        My knees said no more {old}, so it's {v} from now on.
        Joined the local {v} squad, and training is on {day}s.
        {v} has replaced everything else in my sporting life.
    """),
    negate=lines("""
        Haven't played {old} in months, because I'm all about {v} now.
        I'm off the {old} team, and I play {v} these days.
    """),
    indirect=lines("""
        Bruised all over after my first {v} match.
        The {v} coach says I have good instincts.
    """),
    prompt=lines("""
        Are you still playing the same sport?
        Do you do any sport now?
    """),
    answer=lines("""
        Switched, I play {v} now.
        These days it's {v}.
    """),
    other=lines("""
        {Who} captains {a_v} team.
        {Who} got me tickets for {a_v} final.
        {Who} plays {v} at county level.
    """),
    plan=lines("""
        There's {a_v} taster day, and I might go.
        My neighbour keeps telling me to try {v}.
    """),
    past=lines("""
        My {old} trophies are in a box somewhere.
        I miss the {old} crowd sometimes.
    """),
    ask_now=lines("""
        Which sport does {p} currently play?
        What sport is {p} involved in at present?
    """),
    ask_before=lines("""
        Prior to {v}, which sport did {p} play?
        What sport did {p} do until taking up {v}?
    """),
    ask_at=lines("""
        {When}, which sport did {p} play?
        What sport did {p} compete in, {when}?
    """),
)

INSTRUMENT = Attribute(
    key="instrument",
    label="instrument",
    values=items("""viola | clarinet | accordion | flute | double bass | mandolin | trombone |
        oboe | bassoon"""),
    state=lines("""
        My {v} teacher says I should practise more.
        Our band needs me on the {v} every {day}.
        Playing my {v} calms me down after work.
    """),
    change=lines("""
        Swapped my {old} for {a_v} at the music shop.
        I've picked up the {v}, and it's so different.
        My new instrument is the {v}, lessons started last week.
    """),
    negate=lines("""
        The {old} lives in its case now, because I only play the {v}.
        Gave the {old} away, and I'm all about the {v}.
    """),
    indirect=lines("""
        My fingers hurt from the {v} scales.
        Bought a stand for my {v}, and it looks so professional.
    """),
    prompt=lines("""
        Do you still play music?
        Which instrument is it these days?
    """),
    answer=lines("""
        Yes, the {v}, now.
        Changed, I play the {v}.
    """),
    other=lines("""
        {Who} plays {v} in an orchestra.
        {Who} is selling their old {v}.
        {Who} gives {v} lessons on weekends.
    """),
    plan=lines("""
        I heard {a_v} solo and thought about learning it.
        {a_v} would be fun, but I have no time.
    """),
    past=lines("""
        My old {old} sheet music is still on the piano.
        I played {old} in the school orchestra, long ago.
    """),
    ask_now=lines("""
        Which instrument does {p} play at present?
        What instrument is {p} practising nowadays?
    """),
    ask_before=lines("""
        Prior to the {v}, which instrument did {p} play?
        What did {p} play until switching to the {v}?
    """),
    ask_at=lines("""
        {When}, what was {p} playing, instrument-wise?
        What instrument was {p} practising {when}?
    """),
)

LANGUAGE = Attribute(
    key="language",
    label="language being learnt",
    values=items("Mandarin | Greek | Finnish | Hindi | Vietnamese | Czech | Hebrew | Icelandic"),
    state=lines("""
        My {v} homework took all evening.
        I practise {v} with a tandem partner every {day}.
        {v} grammar is driving me mad, but I'm enjoying it.
    """),
    change=lines("""
        I gave up on {old}, and it's {v} lessons for me now.
        New language project: {v}, starting this month.
        Enrolled in {a_v} course, and the first class was great.
    """),
    negate=lines("""
        {old} was too much, so I quit; I'm studying {v} instead.
        No longer doing {old}, because {v} is what I'm learning.
    """),
    indirect=lines("""
        I watched a film in {v} without subtitles, well, mostly.
        My {v} flashcards are all over the fridge.
    """),
    prompt=lines("""
        Still learning the same language?
        What language are you studying now?
    """),
    answer=lines("""
        I moved on, it's {v} now.
        At the moment, {v}.
    """),
    other=lines("""
        {Who} is fluent in {v}.
        {Who} teaches {v} at night school.
        {Who} is studying {v} for their job.
    """),
    plan=lines("""
        {v} sounds beautiful, and I might learn it one day.
        I downloaded {a_v} app, but haven't opened it.
    """),
    past=lines("""
        My {old} is so rusty now.
        I can still say a few words in {old}.
    """),
    ask_now=lines("""
        Which language is {p} studying at present?
        What language is {p} currently working on?
    """),
    ask_before=lines("""
        Prior to {v}, which language did {p} study?
        What language was {p} working on until {v}?
    """),
    ask_at=lines("""
        {When}, what language was {p} taking lessons in?
        What language was {p} busy learning {when}?
    """),
)

COMMUTE = Attribute(
    key="commute",
    label="way to work",
    values=items("bike | bus | train | tram | e-scooter | ferry | motorbike | carpool"),
    state=lines("""
        Going to work by {v} takes me about forty minutes.
        I've always gone to the office by {v}.
        My daily commute is by {v}, rain or shine.
    """),
    change=lines("""
        I've changed how I get to work: it's the {v} now.
        Started commuting by {v} this month, much better.
        No more {old} to the office; I take the {v}.
    """),
    negate=lines("""
        I don't go by {old} anymore, because the {v} is quicker.
        The {old} commute is over, so it's {v} for me.
    """),
    indirect=lines("""
        I read a whole book on the {v} this week.
        The {v} was late again, and I missed the meeting.
    """),
    prompt=lines("""
        How do you get to the office these days?
        Same commute as always?
    """),
    answer=lines("""
        By {v}, now.
        I go by {v} these days.
    """),
    other=lines("""
        {Who} goes to work by {v}.
        {Who} complains about the {v} every single day.
        {Who} switched to the {v} to save money.
    """),
    plan=lines("""
        I could try the {v} one day, but probably won't.
        Someone suggested the {v} for my commute.
    """),
    past=lines("""
        I don't miss the {old} rides in winter.
        During my {old} commute I listened to so many podcasts.
    """),
    ask_now=lines("""
        How does {p} get to work at present?
        By what means does {p} commute nowadays?
    """),
    ask_before=lines("""
        Prior to the {v}, how did {p} get to work?
        How did {p} commute until switching to the {v}?
    """),
    ask_at=lines("""
        {When}, how did {p} get to work?
        How was {p} commuting {when}?
    """),
)

GYM = Attribute(
    key="gym",
    label="gym",
    values=items("""Pulse Fitness | IronWorks Gym | Peak Performance Club | FlexZone |
        Harbour Leisure Centre | Titan Strength | Riverside Pool and Gym | Summit Climbing Wall"""),
    state=lines("""
        My membership at {v} is the best money I spend.
        I go to {v} before work, most days.
        The trainers at {v} know me by name.
    """),
    change=lines("""
        Cancelled my old membership and signed up at {v}.
        Switched gyms: {v} is closer and cheaper.
        I have been training at {v} since the start of the month.
    """),
    negate=lines("""
        I'm no longer a member at {old}, and I go to {v} now.
        I quit {old}; my gym is {v} these days.
    """),
    indirect=lines("""
        The sauna at {v} is worth the price alone.
        Had my induction at {v} on {day}.
    """),
    prompt=lines("""
        Still going to the same gym?
        Where do you work out these days?
    """),
    answer=lines("""
        I'm at {v} now.
        I switched to {v}.
    """),
    other=lines("""
        {Who} is a personal trainer at {v}.
        {Who} swims at {v} every morning.
        {Who} just joined {v}.
    """),
    plan=lines("""
        {v} has a free trial, and I might check it out.
        A friend keeps inviting me to {v}.
    """),
    past=lines("""
        The changing rooms at {old} were awful.
        I still have my {old} towel.
    """),
    ask_now=lines("""
        Which gym does {p} currently go to?
        Where does {p} work out at present?
    """),
    ask_before=lines("""
        Prior to {v}, which gym did {p} use?
        Where did {p} work out until joining {v}?
    """),
    ask_at=lines("""
        {When}, which gym did {p} go to?
        Where was {p} working out {when}?
    """),
)

POOL = Pool(
    split="test",
    people=items("""Agnes | Bastian | Celia | Darius | Edda | Fabian | Greer | Hamid | Isolde |
        Joaquin | Kirsi | Lorcan | Mireille | Nils | Odile | Pranav | Rosalind | Silas | Thea |
        Ulrich | Valentina | Wendell | Ximena | Yorick | Zora | Anouk | Bram | Corin | Delphine |
        Emil"""),
    others=gendered("""Maren:f | Theo:m | Anika:f | Caspar:m | Leila:f | Matteo:m | Ruth:f |
        Sven:m | Yuki | Dario:m | Ilse:f | Kwame:m | Beatrix:f | Otto:m | Signe:f | Tariq:m |
        Phoebe:f | Arlo:m | Nell:f | Ravi:m | Quinn | Sasha"""),
    relations=gendered("""aunt:f | uncle:m | coworker | old roommate | brother-in-law:m |
        teammate | landlady:f | childhood friend | stepsister:f | nephew:m"""),
    topics=items("""black holes | coral reefs | the Vikings | pyramids | the Titanic |
        rainforests | wolves | submarines | Antarctica | mushrooms | comets | the Aztecs"""),
    dates=(
        DateFormat("day", "on {month} {day}, {year}"),
        DateFormat("early", "in early {month} {year}"),
        DateFormat("mid", "in mid-{month} {year}"),
        DateFormat("late", "towards the end of {month} {year}"),
        DateFormat("day", "on {iso}"),
    ),
    greetings=lines("""
        Hiya, you around?
        Back again, hope you're well.
        Hey hey, quick catch-up?
        Evening! Long day here.
        Yo, happy {day}.
    """),
    welcomes=lines("""
        Always! What's up?
        Hey you. Go on then.
        I'm here, tell me everything.
        Ah, nice to see a message from you.
    """),
    small_talk=lines("""
        The heating broke again, so I'm wrapped in three blankets.
        Someone on the radio talked about {topic} for an hour, and I was hooked.
        {day} was one of those days where nothing goes right.
        I found a great little bakery around the corner.
        My neighbour's dog barked all night.
        I've been reading about {topic} instead of sleeping.
        The laundry is piling up and I'm ignoring it.
        Finally cleared my inbox, feels amazing.
        It snowed a little this morning, just for show.
        I started a puzzle with a thousand pieces, big mistake.
        There was a street festival on {day}, so loud.
        My mum called to talk about {topic}, of all things.
        I signed up for a first-aid course at work.
        The printer at the office jammed three times today.
    """),
    small_replies=lines("""
        Oof, that's rough.
        Ha! Classic.
        Love that for you.
        Honestly, same.
        That's wild.
        Go on, what happened next?
        I'd have done the exact same thing.
    """),
    replies=lines("""
        Whoa, I didn't see that coming.
        That's a lot to take in, how do you feel?
        Well, good luck with it all.
        Noted! Tell me how it goes.
        Change is good, sometimes.
        Huh, that explains a few things.
        Understood, I'll remember that.
    """),
    echoes=lines("""
        So it's {v} now, huh.
        {v}, really? Tell me more.
        Didn't picture you with {v}, but why not.
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
        COMMUTE,
        GYM,
    ),
)
