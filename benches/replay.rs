//! Replay time of a whole real feed history (the BBC series of the shared
//! corpus: 364 captures, ~5,500 stories) through parse → track → store.
//! Needs STORYWATCH_CORPUS; skips loudly without it.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use storywatch::cli::replay::{replay, ReplayOptions};

fn series() -> Option<PathBuf> {
    let corpus = std::env::var_os("STORYWATCH_CORPUS")?;
    let dir = PathBuf::from(corpus).join("timeseries/gesab001-headlines/bbc");
    dir.is_dir().then_some(dir)
}

fn bench(c: &mut Criterion) {
    let Some(dir) = series() else {
        eprintln!("SKIPPED replay bench: set STORYWATCH_CORPUS=…/shared/corpus");
        return;
    };
    let manifest = dir.join("MANIFEST.tsv");
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.bench_function("bbc_series_364_captures", |b| {
        b.iter(|| {
            let opts = ReplayOptions {
                dir: &dir,
                manifest: Some(&manifest),
                config: None,
                feed: None,
                state_dir: None,
                show_removed: false,
            };
            replay(&opts, &mut std::io::sink()).expect("replay")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
