// SPDX-License-Identifier: Apache-2.0
//! The safe API on tiny-a-bf16 (GEMMA2_TEST_MODEL, no tokenizer), with the gemma2 CLI
//! (GEMMA2_CLI) as the reference for tokens and model facts.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use gemma2::{LayerKind, Model, ModelOptions, SamplerOptions, Session, SessionOptions, Status, StopReason};

const PROMPT: &[i32] = &[2, 10, 20];
const PROMPT2: &[i32] = &[2, 10];

fn steps(session: &mut Session, n: usize) -> Vec<i32> {
    (0..n).map(|_| session.step().expect("step").id).collect()
}

fn greedy(model: &Model, prompt: &[i32], n: usize) -> Vec<i32> {
    let mut s = model.session(&session_options()).unwrap();
    s.feed(prompt).unwrap();
    steps(&mut s, n)
}

/// Highest logit, lowest id on ties: what greedy must choose.
fn argmax(logits: &[f32]) -> i32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as i32
}

fn cli_field<'a>(info: &'a str, key: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(key).map(|r| r.trim_start_matches(':').trim()))
        .unwrap_or_else(|| panic!("no {key} in gemma2 info output:\n{info}"))
}

#[test]
fn info_and_digest_match_cli() {
    let path = model_path();
    let model = open(path.clone());
    let info = model.info();
    let cli_info = cli(&["info", path.to_str().unwrap()]);
    assert_eq!(info.vocab_size.to_string(), cli_field(&cli_info, "vocab_size"));
    assert_eq!(info.hidden_size.to_string(), cli_field(&cli_info, "hidden_size"));
    assert_eq!(info.n_layers.to_string(), cli_field(&cli_info, "layers"));
    assert_eq!(format!("{} / {}", info.n_heads, info.n_kv_heads), cli_field(&cli_info, "heads / kv heads"));
    assert_eq!(info.head_dim.to_string(), cli_field(&cli_info, "head_dim"));
    assert_eq!(info.ffn_size.to_string(), cli_field(&cli_info, "ffn_size"));
    assert_eq!(info.context_length.to_string(), cli_field(&cli_info, "context_length"));
    assert_eq!(info.sliding_window.to_string(), cli_field(&cli_info, "sliding_window"));
    assert_eq!(info.rope_theta.to_string(), cli_field(&cli_info, "rope_theta"));
    assert_eq!(info.final_softcap.to_string(), cli_field(&cli_info, "final_softcap"));
    assert_eq!(info.attn_softcap.to_string(), cli_field(&cli_info, "attn_softcap"));
    assert_eq!(
        format!("{} / {} / {}", info.bos_id, info.eos_id, info.pad_id),
        cli_field(&cli_info, "bos / eos / pad")
    );
    assert_eq!(gemma2::type_name(info.weight_type), cli_field(&cli_info, "weight type"));
    assert_eq!(info.weight_bytes.to_string(), cli_field(&cli_info, "weight bytes"));
    assert!(cli_field(&cli_info, "file")
        .contains(&format!("({} bytes, format v{})", info.file_size, info.format_version)));
    assert_eq!(info.n_tensors.to_string(), cli_field(&cli_info, "tensors"));
    assert!(!info.compressed);
    assert_eq!(info.file_size, std::fs::metadata(&path).unwrap().len());

    assert_eq!(model.vocab_size(), info.vocab_size as usize);
    assert_eq!(model.context_length(), info.context_length as usize);
    let kinds: String = (0..info.n_layers)
        .map(|l| match model.layer_kind(l).unwrap() {
            LayerKind::Local => 'L',
            LayerKind::Global => 'G',
        })
        .collect();
    assert!(cli_field(&cli_info, "layer kinds").starts_with(&kinds), "{kinds}");
    assert_eq!(model.layer_kind(info.n_layers).unwrap_err().status(), Status::InvalidArgument);

    let digest = cli_field(&cli_info, "digest").split_whitespace().next().unwrap().to_string();
    assert_eq!(hex(&model.digest()), digest);
    model.verify(1).expect("verify");
}

#[test]
fn open_options() {
    let path = model_path();
    let digest = open(path.clone()).digest();
    // Every option combination opens the same model.
    let opts = ModelOptions::new().threads(1).verify(false).mmap(false).expected_digest(digest);
    let m = Model::open(&path, &opts).expect("open with options");
    assert_eq!(m.digest(), digest);
    let mut wrong = digest;
    wrong[0] ^= 1;
    let e = Model::open(&path, &ModelOptions::new().threads(1).expected_digest(wrong)).unwrap_err();
    assert_eq!(e.status(), Status::Checksum, "{e}");
    assert!(!e.message().is_empty());
}

#[test]
fn greedy_matches_cli() {
    let path = model_path();
    let model = open(path.clone());
    for prompt in [PROMPT, PROMPT2] {
        let want = cli_generate(&path, prompt, 16, &[]);
        let mut s = model.session(&session_options()).unwrap();
        s.feed(prompt).unwrap();
        assert_eq!(s.position(), prompt.len());
        let mut got = Vec::new();
        for _ in 0..16 {
            // Greedy is the argmax of the logits, and the model's likeliest token.
            let expect = argmax(s.logits().unwrap());
            assert_eq!(s.logits().unwrap().len(), model.vocab_size());
            let top = s.top_logprobs(3).unwrap();
            assert_eq!(top.len(), 3);
            assert_eq!(top[0].0, expect);
            assert!(top[0].1 <= 0.0 && top[0].1 >= top[1].1 && top[1].1 >= top[2].1, "{top:?}");
            let t = s.step().unwrap();
            assert_eq!(t.id, expect);
            assert_eq!(t.text, "", "a model without tokenizer gives no text");
            assert_eq!(t.end_of_turn, t.id == model.info().eos_id);
            got.push(t.id);
        }
        assert_eq!(got, want, "prompt {prompt:?}");
        let mut all = prompt.to_vec();
        all.extend_from_slice(&got);
        assert_eq!(s.tokens().unwrap(), all);
        assert_eq!(s.position(), all.len());
        assert!(s.memory_bytes() > 0);
    }
}

#[test]
fn generate_iterator_stops_at_eos_and_max_tokens() {
    let model = open(model_path());
    let mut s = model.session(&session_options()).unwrap();
    let mut g = s.generate(PROMPT2, 5);
    let pieces: Vec<String> = g.by_ref().map(|p| p.unwrap()).collect();
    assert_eq!(pieces.len(), 5);
    assert_eq!(g.stop_reason(), Some(StopReason::MaxTokens));
    assert_eq!(g.tokens(), &greedy(&model, PROMPT2, 5)[..]);
    drop(g);
    assert_eq!(s.position(), PROMPT2.len() + 5);

    // Greedy after [2, 10, 20, 30] starts with <eos> (id 1), which ends the turn.
    let prompt = [2, 10, 20, 30];
    assert_eq!(greedy(&model, &prompt, 1), vec![model.info().eos_id]);
    let mut s = model.session(&session_options()).unwrap();
    let mut g = s.generate(&prompt, 10);
    assert_eq!(g.next().unwrap().unwrap(), "");
    assert!(g.next().is_none());
    assert_eq!(g.stop_reason(), Some(StopReason::EndOfTurn));
    assert_eq!(g.tokens(), &[1]);

    // An empty prompt continues from the current logits.
    let mut s = model.session(&session_options()).unwrap();
    s.feed(PROMPT2).unwrap();
    let ids: Vec<i32> = {
        let mut g = s.generate(&[], 4);
        g.by_ref().for_each(|p| {
            p.unwrap();
        });
        g.tokens().to_vec()
    };
    assert_eq!(ids, greedy(&model, PROMPT2, 4));

    // A full context ends generation quietly.
    let mut s = model.session(&session_options().context_length(6)).unwrap();
    let mut g = s.generate(PROMPT, 10);
    assert_eq!(g.by_ref().count(), 3);
    assert_eq!(g.stop_reason(), Some(StopReason::ContextFull));
}

#[test]
fn sampling_matches_cli_and_is_reproducible() {
    let path = model_path();
    let model = open(path.clone());
    let sampler = SamplerOptions {
        temperature: 0.8,
        seed: 5,
        top_k: 40,
        top_p: 0.95,
        min_p: 0.01,
        repeat_penalty: 1.3,
        presence_penalty: 0.5,
        frequency_penalty: 0.2,
        penalty_last_n: 16,
        ..SamplerOptions::default()
    };
    let flags = [
        "--temp",
        "0.8",
        "--seed",
        "5",
        "--top-k",
        "40",
        "--top-p",
        "0.95",
        "--min-p",
        "0.01",
        "--repeat-penalty",
        "1.3",
        "--presence-penalty",
        "0.5",
        "--frequency-penalty",
        "0.2",
        "--repeat-last-n",
        "16",
    ];
    let n = 16;
    let run = |sampler: &SamplerOptions| {
        let mut s = model.session(&sampled_options(sampler.clone())).unwrap();
        s.feed(PROMPT).unwrap();
        steps(&mut s, n)
    };
    let a = run(&sampler);
    let b = run(&sampler);
    assert_eq!(a, b, "the same seed gives the same tokens");
    assert_eq!(a, cli_generate(&path, PROMPT, n, &flags), "the CLI with the same flags");
    let g = greedy(&model, PROMPT, n);
    assert_ne!(a, g, "sampling differs from greedy");
    let other = run(&SamplerOptions { seed: 6, ..sampler.clone() });
    assert_ne!(a, other, "another seed gives other tokens");

    // Plain temperature sampling against the CLI too.
    let plain = run(&SamplerOptions::sampled(1.0, 1234));
    assert_eq!(plain, cli_generate(&path, PROMPT, n, &["--temp", "1", "--seed", "1234"]));
    assert_ne!(plain, g);

    // Penalties apply to greedy decoding as well.
    let pen = run(&SamplerOptions { repeat_penalty: 1.5, ..SamplerOptions::greedy() });
    assert_eq!(pen, cli_generate(&path, PROMPT, n, &["--repeat-penalty", "1.5"]));
    assert_ne!(pen, g);

    // A logit bias of -inf bans greedy's first choice.
    let ban =
        run(&SamplerOptions { logit_bias: vec![(g[0], f32::NEG_INFINITY)], ..SamplerOptions::greedy() });
    assert_ne!(ban[0], g[0]);
}

#[test]
fn set_sampler_between_steps() {
    let model = open(model_path());
    let sampler = SamplerOptions::sampled(0.9, 77);
    // A: greedy for 4 steps, then the sampler.
    let mut a = model.session(&session_options()).unwrap();
    a.feed(PROMPT).unwrap();
    let mut ids_a = steps(&mut a, 4);
    a.set_sampler(&sampler).unwrap();
    ids_a.extend(steps(&mut a, 8));
    // B: fed the same tokens, created with the sampler: the same continuation.
    let mut b = model.session(&sampled_options(sampler.clone())).unwrap();
    let mut fed = PROMPT.to_vec();
    fed.extend_from_slice(&ids_a[..4]);
    b.feed(&fed).unwrap();
    assert_eq!(steps(&mut b, 8), &ids_a[4..]);
    assert_eq!(&ids_a[..4], &greedy(&model, PROMPT, 4)[..]);

    // Out-of-range values are refused and keep the sampler.
    let mut c = model.session(&session_options()).unwrap();
    c.feed(PROMPT).unwrap();
    for bad in [
        SamplerOptions { temperature: -1.0, ..SamplerOptions::default() },
        SamplerOptions { top_p: f32::NAN, ..SamplerOptions::default() },
        SamplerOptions { logit_bias: vec![(100_000, 1.0)], ..SamplerOptions::default() },
    ] {
        let e = c.set_sampler(&bad).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{bad:?}: {e}");
        assert!(!e.message().is_empty());
    }
    assert_eq!(steps(&mut c, 6), greedy(&model, PROMPT, 6), "still greedy");
    // And back to greedy explicitly.
    c.set_sampler(&SamplerOptions::greedy()).unwrap();
}

#[test]
fn save_load_continues_identically() {
    let model = open(model_path());
    let sampler = SamplerOptions::sampled(0.7, 2024);
    let mut s = model.session(&sampled_options(sampler.clone())).unwrap();
    s.feed(PROMPT).unwrap();
    let head = steps(&mut s, 5);
    let state = s.save().unwrap();
    assert!(!state.is_empty());
    let tail = steps(&mut s, 10);

    // Into a fresh session (greedy, another context length): the state brings the
    // sampler and its generator.
    let mut t = model.session(&session_options().context_length(64)).unwrap();
    t.load(&state).unwrap();
    assert_eq!(t.position(), PROMPT.len() + 5);
    let mut tokens = PROMPT.to_vec();
    tokens.extend_from_slice(&head);
    assert_eq!(t.tokens().unwrap(), tokens);
    assert_eq!(steps(&mut t, 10), tail);

    // Into the same session, rolled back.
    s.load(&state).unwrap();
    assert_eq!(steps(&mut s, 10), tail);

    // Through a file.
    let file = temp_path("state");
    s.load(&state).unwrap();
    s.save_file(&file).unwrap();
    let mut u = model.session(&session_options()).unwrap();
    u.load_file(&file).unwrap();
    std::fs::remove_file(&file).ok();
    assert_eq!(steps(&mut u, 10), tail);
    let e = u.load_file(temp_path("no-such-state")).unwrap_err();
    assert_eq!(e.status(), Status::Io, "{e}");

    // Damaged or truncated states are refused and the session is unchanged.
    let before = u.tokens().unwrap();
    let mut bad = state.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let e = u.load(&bad).unwrap_err();
    assert!(matches!(e.status(), Status::Checksum | Status::Format), "{e}");
    let e = u.load(&state[..state.len() / 3]).unwrap_err();
    assert_eq!(e.status(), Status::Format, "{e}");
    assert_eq!(e.code(), gemma2::sys::GEMMA2_ERR_FORMAT);
    let e = u.load(&[]).unwrap_err();
    assert!(matches!(e.status(), Status::Format | Status::InvalidArgument), "{e}");
    assert_eq!(u.tokens().unwrap(), before);

    // A state too long for the session's context.
    let mut small = model.session(&session_options().context_length(4)).unwrap();
    assert_eq!(small.load(&state).unwrap_err().status(), Status::ContextFull);
}

#[test]
fn rewind_reset_and_feed_prompt() {
    let model = open(model_path());
    let mut s = model.session(&session_options()).unwrap();
    s.feed(PROMPT).unwrap();
    let first = s.logits().unwrap().to_vec();
    let ids = steps(&mut s, 6);
    s.rewind(PROMPT.len()).unwrap();
    assert_eq!(s.position(), PROMPT.len());
    assert_eq!(s.logits().unwrap_err().status(), Status::State, "no logits after a rewind");
    assert_eq!(s.step().unwrap_err().status(), Status::State);
    assert_eq!(s.rewind(PROMPT.len() + 1).unwrap_err().status(), Status::InvalidArgument);
    assert_eq!(s.rewind(usize::MAX).unwrap_err().status(), Status::InvalidArgument);

    // feed_prompt keeps the common prefix (at most n - 1 tokens) and feeds the rest.
    let reused = s.feed_prompt(PROMPT).unwrap();
    assert_eq!(reused, PROMPT.len() - 1);
    assert_eq!(s.logits().unwrap(), &first[..], "exact: the same logits");
    assert_eq!(steps(&mut s, 6), ids);
    let mut longer = PROMPT.to_vec();
    longer.extend_from_slice(&ids);
    longer.push(7);
    assert_eq!(s.feed_prompt(&longer).unwrap(), PROMPT.len() + ids.len());
    assert_eq!(s.tokens().unwrap(), longer);

    s.reset();
    assert_eq!(s.position(), 0);
    assert_eq!(s.tokens().unwrap(), Vec::<i32>::new());
    assert_eq!(s.logits().unwrap_err().status(), Status::State);
    s.feed(PROMPT).unwrap();
    assert_eq!(steps(&mut s, 6), ids);
}

#[test]
fn errors_carry_status_and_message() {
    // A bad path: IO, with the library's message.
    let missing = temp_path("no-such-model.g2");
    let e = Model::open(&missing, &ModelOptions::default()).unwrap_err();
    assert_eq!(e.status(), Status::Io, "{e}");
    assert_eq!(e.code(), gemma2::sys::GEMMA2_ERR_IO);
    assert!(!e.message().is_empty());
    let shown = e.to_string();
    assert!(shown.contains(e.message()) && shown.contains(Status::Io.name()), "{shown}");
    // Not a model file.
    let junk = temp_path("junk.g2");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let e = Model::open(&junk, &ModelOptions::default()).unwrap_err();
    std::fs::remove_file(&junk).ok();
    assert_eq!(e.status(), Status::Format, "{e}");
    // A NUL in the path is caught by the bindings.
    let e = Model::open("a\0b", &ModelOptions::default()).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);

    let model = open(model_path());
    let vocab = model.vocab_size() as i32;
    let mut s = model.session(&session_options()).unwrap();
    // Nothing fed yet.
    assert_eq!(s.step().unwrap_err().status(), Status::State);
    assert_eq!(s.logits().unwrap_err().status(), Status::State);
    assert_eq!(s.top_logprobs(2).unwrap_err().status(), Status::State);
    // Out-of-range tokens: all or nothing.
    for bad in [vec![2, vocab], vec![-1], vec![2, 3, i32::MAX]] {
        let e = s.feed(&bad).unwrap_err();
        assert_eq!(e.status(), Status::TokenOutOfRange, "{bad:?}: {e}");
        assert!(!e.message().is_empty());
        assert_eq!(s.position(), 0);
    }
    assert_eq!(s.feed(&[]).unwrap_err().status(), Status::InvalidArgument);
    s.feed(PROMPT).unwrap();
    let e = s.feed(&[vocab]).unwrap_err();
    assert_eq!(e.status(), Status::TokenOutOfRange);
    assert_eq!(s.position(), PROMPT.len());
    // The error did not break the session.
    assert_eq!(steps(&mut s, 4), greedy(&model, PROMPT, 4));

    // Context full.
    let mut small = model.session(&session_options().context_length(4)).unwrap();
    assert_eq!(small.feed(&[2, 3, 4, 5, 6]).unwrap_err().status(), Status::ContextFull);
    small.feed(&[2, 3, 4, 5]).unwrap();
    assert_eq!(small.step().unwrap_err().status(), Status::ContextFull);
    // A context longer than the model's.
    let too_long = model.context_length() as u32 + 1;
    let e = model.session(&session_options().context_length(too_long)).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");

    // Text calls need a tokenizer, which this model lacks.
    assert!(!model.has_tokenizer());
    let e = model.tokenize("hello", false).unwrap_err();
    assert_eq!(e.status(), Status::Unsupported, "{e}");
    assert!(!e.message().is_empty());
    assert_eq!(model.detokenize(&[2], false).unwrap_err().status(), Status::Unsupported);
    assert_eq!(model.chat_template(&[("user", "hi")], true).unwrap_err().status(), Status::Unsupported);
    assert_eq!(model.special_token(gemma2::SpecialToken::Bos), None);
}

#[test]
fn session_outlives_model() {
    let model = open(model_path());
    let want = greedy(&model, PROMPT, 8);
    let mut s = model.session(&session_options()).unwrap();
    drop(model); // the session holds its own reference on the C model
    s.feed(PROMPT).unwrap();
    assert_eq!(steps(&mut s, 8), want);
}

#[test]
fn shared_model_two_threads() {
    let model = Arc::new(open(model_path()));
    let sampler = SamplerOptions::sampled(0.8, 9);
    let jobs: Vec<(Vec<i32>, SessionOptions)> =
        vec![(PROMPT.to_vec(), session_options()), (PROMPT2.to_vec(), sampled_options(sampler))];
    let run = |model: &Model, (prompt, opts): &(Vec<i32>, SessionOptions)| {
        let mut s = Session::new(model, opts).unwrap();
        s.feed(prompt).unwrap();
        steps(&mut s, 24)
    };
    let sequential: Vec<Vec<i32>> = jobs.iter().map(|j| run(&model, j)).collect();
    for _ in 0..3 {
        let handles: Vec<_> = jobs
            .iter()
            .cloned()
            .map(|job| {
                let model = Arc::clone(&model);
                thread::spawn(move || run(&model, &job))
            })
            .collect();
        let parallel: Vec<Vec<i32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(parallel, sequential);
    }
    // A session made here and moved to another thread (Send).
    let mut s = model.session(&session_options()).unwrap();
    s.feed(PROMPT).unwrap();
    let moved = thread::spawn(move || steps(&mut s, 24)).join().unwrap();
    assert_eq!(moved, sequential[0]);
}

/// Runs `work` while another thread keeps cancelling the session, pausing `pause_us`
/// microseconds (varied) between requests; returns what `work` returns.
fn with_canceller<R>(s: &mut Session, pause_us: u64, work: impl FnOnce(&mut Session) -> R) -> R {
    let cancel = s.cancel_handle();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let t = thread::spawn(move || {
        let mut i = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            cancel.cancel();
            if pause_us == 0 {
                thread::yield_now();
            } else {
                i += 1;
                thread::sleep(Duration::from_micros(pause_us / 2 + (i * 7919) % pause_us));
            }
        }
    });
    let r = work(s);
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    r
}

#[test]
fn cancel_from_another_thread() {
    let model = open(model_path());
    let long: Vec<i32> = (0..400).map(|i| 2 + (i * 37) % 500).collect();
    let want = greedy(&model, &long, 12);
    let mut s = model.session(&session_options()).unwrap();

    // A request made while nothing runs is dropped when the next call starts.
    s.cancel_handle().cancel();
    s.feed(PROMPT).unwrap();
    s.reset();

    // Long feeds under a stream of cancellations: each is cancelled (the session as
    // before) or done; at least one must be cancelled.
    let (cancelled, done) = with_canceller(&mut s, 0, |s| {
        let (mut cancelled, mut done) = (0, 0);
        for _ in 0..200 {
            match s.feed(&long) {
                Ok(()) => {
                    done += 1;
                    s.reset();
                }
                Err(e) => {
                    assert_eq!(e.status(), Status::Cancelled, "{e}");
                    assert!(!e.message().is_empty());
                    assert_eq!(s.position(), 0, "a cancelled feed leaves the session unchanged");
                    assert_eq!(s.logits().unwrap_err().status(), Status::State);
                    cancelled += 1;
                    if cancelled >= 3 {
                        break;
                    }
                }
            }
        }
        (cancelled, done)
    });
    eprintln!("cancel: {cancelled} feeds cancelled, {done} done");
    assert!(cancelled > 0, "no feed of 400 tokens was cancelled in 200 tries");

    // Steps under cancellations: a cancelled step is retried and gives the same token.
    s.feed(&long).unwrap();
    let (ids, retries) = with_canceller(&mut s, 400, |s| {
        let mut ids = Vec::new();
        let mut retries = 0;
        while ids.len() < 12 {
            match s.step() {
                Ok(t) => ids.push(t.id),
                Err(e) => {
                    assert_eq!(e.status(), Status::Cancelled, "{e}");
                    assert_eq!(s.position(), long.len() + ids.len());
                    retries += 1;
                    assert!(retries < 100_000, "no progress under cancellations");
                }
            }
        }
        (ids, retries)
    });
    eprintln!("cancel: {retries} steps cancelled and retried");
    assert_eq!(ids, want, "cancellations did not change the tokens");

    // The generate iterator yields a cancellation once and ends; generation resumes
    // where it stopped (an empty prompt: from the current logits).
    let mut s = model.session(&session_options()).unwrap();
    s.feed(&long).unwrap();
    let mut got = Vec::new();
    let mut rounds = 0;
    while got.len() < 12 {
        rounds += 1;
        assert!(rounds < 100_000, "no progress under cancellations");
        let left = 12 - got.len();
        let (ids, reason, err) = with_canceller(&mut s, 400, |s| {
            let mut g = s.generate(&[], left);
            let mut err = None;
            for piece in g.by_ref() {
                if let Err(e) = piece {
                    assert!(err.is_none(), "one error, then the end");
                    err = Some(e);
                }
            }
            (g.tokens().to_vec(), g.stop_reason(), err)
        });
        got.extend(ids);
        match err {
            Some(e) => {
                assert_eq!(e.status(), Status::Cancelled, "{e}");
                assert_eq!(reason, Some(StopReason::Error));
            }
            None => assert_eq!(reason, Some(StopReason::MaxTokens)),
        }
        assert_eq!(s.position(), long.len() + got.len());
    }
    assert_eq!(got, want);

    // A Cancel handle may outlive its session.
    let c = s.cancel_handle();
    drop(s);
    c.cancel();
    let c2 = c.clone();
    thread::spawn(move || c2.cancel()).join().unwrap();
}

#[test]
fn save_writes_the_model_as_loaded() {
    let model = open(model_path());
    let path = temp_path("saved.g2");
    model.save(&path, false).unwrap();
    let copy = open(path.clone());
    let mut info = copy.info();
    info.file_size = model.info().file_size; // the metadata it writes differs
    assert_eq!(info, model.info(), "the same config, types and sizes");
    assert!(copy.info().has_checksums && copy.info().source == gemma2::sys::GEMMA2_SOURCE_GEMMA2);
    copy.verify(1).unwrap();
    assert_eq!(greedy(&copy, PROMPT, 6), greedy(&model, PROMPT, 6));
    let err = model.save(std::path::Path::new("/nonexistent-dir/x.g2"), false).unwrap_err();
    assert_eq!(err.status(), Status::Io);
    std::fs::remove_file(&path).unwrap();
}
