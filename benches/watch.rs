//! Watch matching throughput: stories per second through `prepare` +
//! `matching` for 10, 100 and 1,000 watches over a 50-story feed.
//!
//! The stories are self-written, news-shaped (1–2 KB, typographic quotes,
//! accents, several topics) and the watches have the shapes users write:
//! place AND topic, phrases, OR lists, NOT, field scopes, NEAR, prefixes and
//! the odd regex. Everything is generated deterministically so runs compare.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use storywatch::watch::index::{Doc, WatchSet};
use storywatch::watch::query::{parse, Query};

const ITEMS: usize = 50;

/// Hand-written sentences per topic: (titles, body sentences).
const TOPICS: [(&[&str], &[&str]); 6] = [
    (
        &[
            "Kyiv says Russian troops massing near Kharkiv as talks stall",
            "Ukraine’s air defences down 40 drones over Odesa overnight",
            "NATO ministers meet in Brussels to discuss new aid package for Kyiv",
        ],
        &[
            "Ukrainian officials said on Tuesday that Russian troops were massing near the north-eastern city of Kharkiv, raising fears of a renewed offensive.",
            "President Volodymyr Zelensky’s office said air defences had shot down most of the drones launched overnight, but debris damaged an apartment block.",
            "NATO’s secretary general told reporters in Brussels that allies would “do whatever it takes” to keep Ukraine supplied with air-defence systems.",
            "The Kremlin dismissed the reports as “propaganda” and accused Western governments of prolonging the war by sending weapons.",
            "Local authorities in Odesa ordered residents to stay in shelters as sirens sounded for more than three hours.",
            "Analysts at the Institute for the Study of War said the build-up could be a feint meant to pin down Ukrainian reserves.",
            "The European Union is expected to approve a fourteenth package of sanctions against Moscow later this month.",
            "Grain exports through the Black Sea corridor continued despite the attacks, the infrastructure ministry said.",
        ],
    ),
    (
        &[
            "North Korea fires ballistic missile into sea, Seoul says",
            "Pyongyang warns of ‘overwhelming response’ to US-South Korea drills",
            "Japan protests after North Korean missile lands inside its economic zone",
        ],
        &[
            "North Korea fired a ballistic missile into the sea off its east coast on Wednesday, South Korea’s Joint Chiefs of Staff said.",
            "The launch came days after the United States and South Korea began large-scale joint military exercises that Pyongyang calls a rehearsal for invasion.",
            "Japan’s defence ministry said the missile appeared to have landed inside its exclusive economic zone, and Tokyo lodged a protest through diplomatic channels in Beijing.",
            "Analysts said the test was likely of a solid-fuel intercontinental ballistic missile, which is harder to detect before launch.",
            "Kim Jong Un has vowed to expand his country’s nuclear arsenal and has rejected offers of talks without preconditions.",
            "The UN Security Council is divided over how to respond, with China and Russia opposing new sanctions on Pyongyang.",
            "Seoul said it was closely monitoring the situation and would respond “overwhelmingly” to any provocation.",
        ],
    ),
    (
        &[
            "Fed holds interest rates steady, signals cuts later this year",
            "Inflation in the eurozone falls to 2.4%, boosting case for ECB cut",
            "Oil prices jump as OPEC+ extends production cuts",
        ],
        &[
            "The Federal Reserve left its benchmark interest rate unchanged on Wednesday but signalled that it still expects to cut borrowing costs before the end of the year.",
            "Fed chair Jerome Powell told reporters that inflation had eased “substantially” but remained above the central bank’s 2% target.",
            "In Frankfurt, the European Central Bank said price growth in the euro area slowed to 2.4% in the year to March, according to a flash estimate by Eurostat.",
            "Brent crude rose more than 3% to $87 a barrel after OPEC+ agreed to extend voluntary production cuts through the second quarter.",
            "Stock markets in New York and London rallied on the news, with the S&P 500 closing at a record high.",
            "Economists at Goldman Sachs said they now expect three rate cuts this year, up from two.",
            "The dollar weakened against the euro and the yen, while gold hit a fresh all-time high.",
            "Mortgage lenders in the U.K. said demand had picked up as fixed-rate deals became cheaper.",
        ],
    ),
    (
        &[
            "Nvidia shares soar as AI chip demand beats forecasts",
            "EU fines Apple €1.8bn over music streaming competition rules",
            "OpenAI unveils new model as rivals race to catch up",
        ],
        &[
            "Nvidia reported quarterly revenue well above analysts’ expectations, driven by surging demand for its data-centre chips used to train artificial-intelligence models.",
            "The European Commission fined Apple €1.8bn for abusing its dominant position in the market for music streaming apps on the iPhone.",
            "Apple said it would appeal against the decision, arguing that the Commission had failed to uncover any credible evidence of consumer harm.",
            "OpenAI said its new model could reason about images, audio and text in real time, and would be rolled out to paying subscribers first.",
            "Microsoft, Google and Meta have each announced tens of billions of dollars of spending on data centres this year.",
            "Regulators in Brussels and Washington are examining whether the partnerships between big tech firms and AI start-ups amount to mergers.",
            "Shares in Taiwan Semiconductor Manufacturing Co. rose 5% in Taipei on the back of the Nvidia results.",
            "Software engineers warned that the rush to deploy generative AI was outpacing work on security and safety.",
        ],
    ),
    (
        &[
            "Record heatwave grips southern Europe as wildfires spread",
            "Floods in Brazil’s Rio Grande do Sul leave dozens dead",
            "COP summit ends with deal on climate finance after all-night talks",
        ],
        &[
            "Temperatures topped 44C in parts of Spain and Greece on Monday as a heatwave gripped southern Europe for a second week.",
            "Firefighters in Greece battled dozens of wildfires, and authorities evacuated several villages near Athens.",
            "In Brazil, floods in the southern state of Rio Grande do Sul have killed at least 75 people and forced more than 80,000 from their homes, the civil defence agency said.",
            "President Luiz Inácio Lula da Silva flew over the affected region and promised federal aid for reconstruction in Porto Alegre.",
            "Scientists at the World Meteorological Organization said climate change was making such extreme events more frequent and more intense.",
            "Negotiators at the United Nations climate summit agreed a new goal for climate finance after talks ran through the night.",
            "Campaigners said the deal fell far short of what poorer countries need to adapt to rising seas and more violent storms.",
        ],
    ),
    (
        &[
            "Taiwan election: voters head to the polls amid pressure from Beijing",
            "Gaza ceasefire talks resume in Cairo as aid trucks wait at Rafah",
            "Germany’s coalition under strain over budget row in Berlin",
        ],
        &[
            "Voters in Taiwan head to the polls on Saturday in an election closely watched in Beijing and Washington.",
            "China has stepped up military drills around the island, which it claims as its own territory.",
            "Negotiators from Israel and Hamas resumed indirect talks on a ceasefire in Cairo, mediated by Egypt and Qatar.",
            "Hundreds of aid trucks were waiting at the Rafah crossing as the United Nations warned of famine in northern Gaza.",
            "In Berlin, Chancellor Olaf Scholz’s three-party coalition was under strain after the constitutional court blocked a plan to shift €60bn of unused debt.",
            "The finance minister said there was “no alternative” to spending cuts, while the Greens pushed to suspend the debt brake again.",
            "Opinion polls suggest the opposition Christian Democrats would win a snap election, with the far-right AfD in second place.",
            "Diplomats in the West Bank city of Ramallah said the Palestinian Authority was preparing a new government.",
        ],
    ),
];

/// Sentences any story may carry.
const FILLER: &[&str] = &[
    "This is a developing story and will be updated.",
    "Reporting by our correspondents; editing by the news desk.",
    "Officials did not immediately respond to a request for comment.",
    "The figures could not be independently verified.",
    "Additional reporting from São Paulo, Zürich and Kraków.",
];

const AUTHORS: &[&str] = &[
    "Jane Smith",
    "Olena Kovalenko",
    "Min-jun Park",
    "Jürgen Müller",
    "Ana Souza",
    "Tom Green",
];
const CATEGORIES: &[&str] = &[
    "World",
    "Europe",
    "Asia",
    "Business",
    "Technology",
    "Climate",
    "Politics",
    "Sport",
];
const FEEDS: &[&str] = &["BBC News", "Reuters World", "The Guardian", "AP Top News"];

/// Deterministic pseudo-random numbers (no dependency, stable across runs).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len())]
    }
}

struct Story {
    title: String,
    summary: String,
    content: String,
    authors: Vec<String>,
    categories: Vec<String>,
    feed: String,
    tags: Vec<String>,
}

impl Story {
    fn doc(&self) -> Doc<'_> {
        Doc {
            title: &self.title,
            summary: &self.summary,
            content: &self.content,
            authors: &self.authors,
            categories: &self.categories,
            feed: &self.feed,
            tags: &self.tags,
        }
    }
}

fn stories() -> Vec<Story> {
    let mut rng = Lcg(7);
    (0..ITEMS)
        .map(|i| {
            let (titles, body) = TOPICS[i % TOPICS.len()];
            let mut content = String::new();
            while content.len() < 1000 + rng.next(800) {
                let sentence = if rng.next(5) == 0 {
                    rng.pick(FILLER)
                } else {
                    rng.pick(body)
                };
                content.push_str(sentence);
                content.push(' ');
            }
            Story {
                title: rng.pick(titles).to_string(),
                summary: format!("{} {}", rng.pick(body), rng.pick(body)),
                content,
                authors: vec![rng.pick(AUTHORS).to_string()],
                categories: vec![rng.pick(CATEGORIES).into(), rng.pick(CATEGORIES).into()],
                feed: rng.pick(FEEDS).to_string(),
                tags: vec![rng
                    .pick(&["breaking", "live", "analysis", "explainer"])
                    .into()],
            }
        })
        .collect()
}

const PLACES: &[&str] = &[
    "Kyiv",
    "Kharkiv",
    "Odesa",
    "\"North Korea\"",
    "Seoul",
    "Pyongyang",
    "Tokyo",
    "Beijing",
    "Taiwan",
    "Gaza",
    "\"West Bank\"",
    "Brussels",
    "Berlin",
    "Paris",
    "London",
    "\"New York\"",
    "Washington",
    "Moscow",
    "Tehran",
    "Cairo",
    "Brazil",
    "\"São Paulo\"",
    "Greece",
    "Spain",
    "Zürich",
    "Kraków",
    "Mumbai",
    "Lagos",
    "Nairobi",
    "Sydney",
];
const ORGS: &[&str] = &[
    "NATO",
    "\"European Union\"",
    "\"United Nations\"",
    "OPEC",
    "\"Federal Reserve\"",
    "ECB",
    "IMF",
    "\"World Bank\"",
    "Google",
    "Apple",
    "Microsoft",
    "Nvidia",
    "Tesla",
    "OpenAI",
    "Meta",
    "Hamas",
    "Kremlin",
    "\"Security Council\"",
    "Eurostat",
    "AfD",
];
const TOPICS_Q: &[&str] = &[
    "troops",
    "missile",
    "drones",
    "sanctions",
    "election",
    "inflation",
    "\"interest rates\"",
    "strike",
    "earthquake",
    "floods",
    "wildfires",
    "ceasefire",
    "tariffs",
    "merger",
    "layoffs",
    "heatwave",
    "budget",
    "famine",
    "\"climate finance\"",
    "\"artificial intelligence\"",
];
const PREFIXES: &[&str] = &[
    "sanction", "elect", "missil", "ukrain", "inflat", "wildfire", "nuclear", "chip", "refuge",
    "protest",
];

/// 1,000 watches of realistic shapes, the first `n` of which are used.
fn queries() -> Vec<Query> {
    let mut rng = Lcg(42);
    (0..1000)
        .map(|i| {
            let (p1, p2) = (rng.pick(PLACES), rng.pick(PLACES));
            let (o1, o2) = (rng.pick(ORGS), rng.pick(ORGS));
            let (t1, t2) = (rng.pick(TOPICS_Q), rng.pick(TOPICS_Q));
            let prefix = rng.pick(PREFIXES);
            let src = match i % 10 {
                0 => format!("{p1} AND {t1}"),
                1 => format!("{o1} OR {o2} OR {p1}"),
                2 => format!("title:({p1} OR {p2}) -sport*"),
                3 => format!("{t1} NEAR/5 {p1}"),
                4 => format!("({o1} OR {o2}) {t1} -opinion"),
                5 => format!("{prefix}* AND ({p1} OR {o1})"),
                6 => format!("category:{} {t1}", rng.pick(CATEGORIES)),
                7 => format!("{p1} {t1} NOT ({t2} OR \"live blog\")"),
                8 => format!(
                    "\"{} {}\" OR {o1}",
                    rng.pick(&["prime", "foreign", "finance"]),
                    rng.pick(&["minister", "ministry", "secretary"])
                ),
                _ if i % 100 == 99 => format!(
                    "/\\b{}s?\\b/ AND {p1}",
                    rng.pick(&["drone", "missile", "tariff"])
                ),
                _ => format!("{t1} ({p1} OR {p2} OR {o1})"),
            };
            parse(&src).unwrap_or_else(|e| panic!("bench query {src:?}: {e}"))
        })
        .collect()
}

fn bench_watches(c: &mut Criterion) {
    let stories = stories();
    let all = queries();
    let mut group = c.benchmark_group("watch");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ITEMS as u64));
    for n in [10, 100, 1000] {
        let set = WatchSet::new(all[..n].to_vec());
        let hits: usize = stories
            .iter()
            .map(|s| set.matching(&set.prepare(&s.doc())).len())
            .sum();
        eprintln!("{n} watches: {hits} hits over {ITEMS} stories");
        group.bench_with_input(BenchmarkId::new("prepare_and_match", n), &set, |b, set| {
            b.iter(|| {
                stories
                    .iter()
                    .map(|s| set.matching(&set.prepare(black_box(&s.doc()))).len())
                    .sum::<usize>()
            })
        });
        let prepared: Vec<_> = stories.iter().map(|s| set.prepare(&s.doc())).collect();
        group.bench_with_input(BenchmarkId::new("match_prepared", n), &set, |b, set| {
            b.iter(|| {
                prepared
                    .iter()
                    .map(|p| set.matching(black_box(p)).len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_watches);
criterion_main!(benches);
