//! all-MiniLM-L6-v2 throughput on the CPU: one `embed_batch` of 64 realistic problem statements
//! (about 15 words each), reported by criterion as sentences per second.
//!
//! ```sh
//! scripts/fetch-model
//! cargo bench -p qis --features minilm --bench minilm
//! ```
//!
//! The model comes from `qis::embed::default_model_dir()` (`QIS_MODEL_DIR`, else
//! `models/all-MiniLM-L6-v2`). Threads: candle's CPU kernels use rayon (`RAYON_NUM_THREADS`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qis::embed::{Embedder, MiniLmEmbedder, default_model_dir};

/// 64 problem statements of 12 to 18 words, of the kinds agents deposit.
const SENTENCES: [&str; 64] = [
    "Transformer attention overhead grows quadratically with sequence length on long legal documents today",
    "HbA1c stays high in type 2 diabetes patients on metformin alone after six months",
    "The database connection pool is exhausted under peak load every Monday morning around nine",
    "Flaky integration tests fail intermittently on the shared CI runners after the compiler upgrade",
    "Wheat yield drops sharply under a late spring frost in heavy clay soils this year",
    "Heart attack patients often miss their follow-up appointments in the first month after discharge",
    "Container images take far too long to pull on cold nodes during autoscaling events",
    "Gradient norms explode when training deep recurrent networks without clipping on noisy sensor data",
    "Soil moisture sensors drift after heavy rain and report values that are clearly too high",
    "Inference latency becomes unacceptable beyond eight thousand tokens on our current GPU cluster setup",
    "Credit risk exposure rises quickly when interest rates stay high for more than two quarters",
    "Customers abandon the checkout page when shipping costs appear only at the very last step",
    "The mobile app crashes on startup for users with older Android versions and little memory",
    "Irrigation schedules waste water in sandy soils because they ignore the local evaporation rate",
    "Our small tabular models overfit badly even with cross validation and strong regularisation applied",
    "Nurses report alarm fatigue in the intensive care unit during long night shifts every week",
    "Search results feel irrelevant when users type short queries with spelling mistakes in them",
    "Battery packs lose capacity faster than expected when stored fully charged in hot warehouses",
    "Warehouse pickers walk long distances because popular items are stored far from packing stations",
    "Dairy cows produce less milk during heat waves unless the barns have enough ventilation",
    "The recommendation engine keeps suggesting items that customers have already bought last week",
    "Students struggle with fractions when lessons jump to word problems before the basics are clear",
    "Antibiotic resistance spreads in hospital wards where hand hygiene compliance is below sixty percent",
    "Log volume doubles after every release and the storage bill grows faster than revenue",
    "Delivery drivers miss time windows in dense city centres because parking is hard to find",
    "Solar panel output falls in winter far more than the vendor's simulation predicted for us",
    "New employees take months to become productive because documentation is scattered across many tools",
    "Patients with chronic kidney disease respond poorly to the standard dose of the new drug",
    "Memory usage of the indexing service climbs steadily until the process is killed at night",
    "Tomato plants in the greenhouse show leaf curl after the nutrient solution was changed",
    "Fraud detection flags too many legitimate transactions from travellers using cards abroad on holiday",
    "Chatbot answers contradict the official policy documents when questions mention rare edge cases",
    "Vaccination rates drop in rural districts where clinics open only two days a week",
    "The build takes forty minutes because every change recompiles the whole dependency graph again",
    "Fish stocks decline in the bay after warm summers despite the new quota limits",
    "Sales forecasts miss seasonal peaks because the model was trained on a single year of data",
    "Elderly patients fall at night in care homes when corridor lighting is switched off",
    "Speech recognition accuracy drops for speakers with strong regional accents in noisy call centres",
    "The payment service times out when the upstream bank API responds slowly during holidays",
    "Corn seedlings emerge unevenly when planting depth varies across the field after heavy tillage",
    "Translation quality degrades for technical manuals full of domain specific abbreviations and units",
    "Network latency spikes every hour when the backup job saturates the shared uplink completely",
    "Children with asthma visit the emergency room more often during high pollen weeks in spring",
    "Our anomaly detector raises false alarms whenever a public holiday changes the normal traffic",
    "Bridge inspections find corrosion earlier when drones photograph the underside of the deck",
    "Retail stores run out of bread on weekends while weekday stock is thrown away unsold",
    "Image classifiers misread road signs partly covered by snow or stickers in winter conditions",
    "Pregnant women with gestational diabetes need insulin sooner when diet changes alone fail",
    "The queue consumer falls behind when messages arrive in bursts larger than its batch size",
    "Vineyards lose grapes to mildew after humid weeks unless spraying is timed well ahead",
    "Hospital readmissions rise for heart failure patients who stop taking diuretics at home",
    "Code review turnaround slows down when pull requests exceed five hundred changed lines each",
    "Electric buses need longer charging breaks in cold weather than the timetable allows",
    "Survey response rates fall when questionnaires take longer than ten minutes to complete online",
    "Cache hit ratio collapses after deployments because every instance starts with an empty cache",
    "Poultry farms see more respiratory disease when ammonia levels in the sheds rise",
    "Legal teams miss contract renewal deadlines because reminders live in personal calendars only",
    "Wind turbine gearboxes fail early when maintenance intervals follow the calendar instead of load",
    "Depression screening misses many cases when patients complete the form in a busy waiting room",
    "The search index rebuild blocks writes for minutes and users see stale results meanwhile",
    "Coffee farmers lose income when harvest timing ignores the ripeness of individual cherries",
    "Rate limits from the partner API cause cascading retries that overload our own gateway",
    "Sepsis is recognised late on general wards where vital signs are charted only twice daily",
    "Machine translation of patient leaflets confuses dosage units and needs careful human review",
];

fn bench(c: &mut Criterion) {
    let dir = default_model_dir();
    let embedder = MiniLmEmbedder::from_dir(&dir).unwrap_or_else(|e| {
        panic!("{e}\n(the MiniLM bench needs the model: run scripts/fetch-model first)")
    });
    let mut group = c.benchmark_group("minilm");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(SENTENCES.len() as u64));
    group.bench_function("embed_batch64_15words", |b| {
        b.iter(|| embedder.embed_batch(black_box(&SENTENCES)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
