// SPDX-License-Identifier: Apache-2.0
//! Text: tokenizer, chat template and streamed generation on the chat model
//! (GEMMA2_TEST_CHAT_MODEL, spm_small tokenizer), with the gemma2 CLI (GEMMA2_CLI) as
//! the reference.
mod common;

use common::*;
use gemma2::{SamplerOptions, SpecialToken, Status, StopReason};

const TEXTS: &[&str] = &[
    "Hello there",
    "abc",
    "What is two plus two?",
    "  leading and  double  spaces\nand a newline\ttab",
    "héllo wörld ✓ 日本語 🙂",
    "<start_of_turn>user\nhi<end_of_turn>",
    "",
];

/// `gemma2 tokenize` of text (special strings parsed unless `plain`).
fn cli_tokenize(text: &str, plain: bool) -> Vec<i32> {
    let model = chat_model_path();
    let mut args = vec!["tokenize", model.to_str().unwrap()];
    if plain {
        args.push("--plain");
    }
    let (out, _) = cli_output(&args, text.as_bytes());
    parse_ids(&String::from_utf8(out).unwrap())
}

/// `gemma2 run -p PROMPT --show-ids`: (text, ids fed, ids generated).
fn cli_run(prompt: &str, n: usize) -> (String, Vec<i32>, Vec<i32>) {
    let model = chat_model_path();
    let n = n.to_string();
    let (out, err) =
        cli_output(&["run", model.to_str().unwrap(), "-p", prompt, "-n", &n, "-t", "1", "--show-ids"], b"");
    let mut text = String::from_utf8(out).unwrap();
    assert_eq!(text.pop(), Some('\n'), "run ends its text with a newline");
    let ids_after = |what: &str| {
        let line = err
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no '{what}' line in gemma2 run's stderr:\n{err}"));
        parse_ids(line.rsplit(": ").next().unwrap())
    };
    (text, ids_after(" fed "), ids_after(" generated "))
}

#[test]
fn tokenize_matches_cli() {
    let model = open(chat_model_path());
    assert!(model.has_tokenizer());
    for text in TEXTS {
        assert_eq!(model.tokenize(text, true).unwrap(), cli_tokenize(text, false), "special: {text:?}");
        assert_eq!(model.tokenize(text, false).unwrap(), cli_tokenize(text, true), "plain: {text:?}");
    }
    // Special strings become one id only in special mode.
    let sot = model.special_token(SpecialToken::StartOfTurn).unwrap();
    assert_eq!(model.tokenize("<start_of_turn>", true).unwrap(), vec![sot]);
    assert!(!model.tokenize("<start_of_turn>", false).unwrap().contains(&sot));
    // Invalid UTF-8 goes through byte fallback and comes back exactly.
    let bytes = b"caf\xe9 \xff\xfe ok";
    let ids = model.tokenize_bytes(bytes, false).unwrap();
    assert_eq!(model.detokenize_bytes(&ids, false).unwrap(), bytes.to_vec());
    assert_eq!(model.detokenize(&ids, false).unwrap(), String::from_utf8_lossy(bytes));
}

#[test]
fn detokenize_round_trips_and_matches_cli() {
    let path = chat_model_path();
    let model = open(path.clone());
    for text in TEXTS {
        let plain = model.tokenize(text, false).unwrap();
        assert_eq!(model.detokenize(&plain, false).unwrap(), *text, "plain round trip");
        let special = model.tokenize(text, true).unwrap();
        assert_eq!(model.detokenize(&special, false).unwrap(), *text, "special round trip");
        let skipped = model.detokenize(&special, true).unwrap();
        let ids = join_ids(&special);
        let (cli_skipped, _) =
            cli_output(&["detokenize", path.to_str().unwrap(), "--ids", &ids, "--skip-special"], b"");
        assert_eq!(skipped.as_bytes(), &cli_skipped[..], "skip special: {text:?}");
    }
    let eot = model.special_token(SpecialToken::EndOfTurn).unwrap();
    assert_eq!(model.token_piece(eot).unwrap(), "<end_of_turn>");
    assert_eq!(model.detokenize(&[eot], false).unwrap(), "<end_of_turn>");
    assert_eq!(model.detokenize(&[eot], true).unwrap(), "");
    let bos = model.special_token(SpecialToken::Bos).unwrap();
    assert_eq!(bos, model.info().bos_id);
    assert_eq!(model.token_piece(bos).unwrap(), "<bos>");
    // Out-of-range ids.
    let e = model.detokenize(&[1, 100_000], false).unwrap_err();
    assert_eq!(e.status(), Status::TokenOutOfRange, "{e}");
    assert!(!e.message().is_empty());
    assert_eq!(model.detokenize(&[-5], false).unwrap_err().status(), Status::TokenOutOfRange);
    assert_eq!(model.token_piece(-1).unwrap_err().status(), Status::TokenOutOfRange);
    assert_eq!(model.detokenize(&[], false).unwrap(), "");
}

#[test]
fn chat_template_matches_cli_and_template_string() {
    let model = open(chat_model_path());
    for prompt in ["abc", "Hello there", "héllo ✓"] {
        let (_, fed, _) = cli_run(prompt, 1);
        assert_eq!(model.chat_template(&[("user", prompt)], true).unwrap(), fed, "{prompt:?}");
    }
    // The ids equal the template string tokenized with its markers parsed.
    let turns = [("system", "Be brief."), ("user", "abc"), ("model", "An An"), ("user", "more")];
    // (This tokenizer's checkpoint marks only the turn markers special, so <bos> is
    // put by id.)
    let bos = model.info().bos_id;
    let template = |text: &str| {
        let mut ids = vec![bos];
        ids.extend(model.tokenize(text, true).unwrap());
        ids
    };
    let text =
        "<start_of_turn>user\nBe brief.\n\nabc<end_of_turn>\n<start_of_turn>model\nAn An<end_of_turn>\n\
                <start_of_turn>user\nmore<end_of_turn>\n<start_of_turn>model\n";
    assert_eq!(model.chat_template(&turns, true).unwrap(), template(text));
    let no_prompt = model.chat_template(&turns, false).unwrap();
    assert_eq!(no_prompt, template(&text[..text.len() - "<start_of_turn>model\n".len()]));
    // Without <bos>, to continue a conversation; "assistant" is "model".
    let cont = model.chat_template_continue(&[("assistant", "An An"), ("user", "more")], true).unwrap();
    let with_bos = model.chat_template(&[("model", "An An"), ("user", "more")], true).unwrap();
    assert_eq!(with_bos[0], model.info().bos_id);
    assert_eq!(cont, &with_bos[1..]);
    // Turn text cannot inject markers.
    let eot = model.special_token(SpecialToken::EndOfTurn).unwrap();
    let ids = model.chat_template(&[("user", "x<end_of_turn>y")], false).unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == eot).count(), 1);
    // Owned strings work too; an unknown role is refused.
    let owned = vec![("user".to_string(), String::from("abc"))];
    assert_eq!(model.chat_template(&owned, true).unwrap(), cli_run("abc", 1).1);
    let e = model.chat_template(&[("robot", "hi")], true).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    assert!(!e.message().is_empty());
    assert_eq!(model.chat_template(&[("us\0er", "hi")], true).unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn streamed_generation_matches_cli_and_detokenize() {
    let model = open(chat_model_path());
    let mut saw_end_of_turn = false;
    for prompt in ["abc", "Hello there", "Hi", "What is two plus two?", "Tell me a story"] {
        let n = 20;
        let (cli_text, cli_fed, cli_ids) = cli_run(prompt, n);
        let ids = model.chat_template(&[("user", prompt)], true).unwrap();
        assert_eq!(ids, cli_fed);
        let mut s = model.session(&session_options()).unwrap();
        let mut g = s.generate(&ids, n);
        let pieces: Vec<String> = g.by_ref().map(|p| p.unwrap()).collect();
        let tokens = g.tokens().to_vec();
        let reason = g.stop_reason();
        drop(g);
        assert_eq!(pieces.len(), tokens.len(), "one piece per token");
        assert_eq!(tokens, cli_ids, "{prompt:?}: the CLI's tokens");
        let joined: String = pieces.concat();
        assert_eq!(joined, cli_text, "{prompt:?}: the CLI's text");
        assert_eq!(joined, model.detokenize(&tokens, true).unwrap(), "{prompt:?}: pieces = detokenize");
        let eot = model.special_token(SpecialToken::EndOfTurn).unwrap();
        if tokens.last() == Some(&eot) {
            saw_end_of_turn = true;
            assert_eq!(reason, Some(StopReason::EndOfTurn));
            assert_eq!(pieces.last().unwrap(), "", "<end_of_turn> has no text");
        } else {
            assert_eq!(reason, Some(StopReason::MaxTokens));
            assert_eq!(tokens.len(), n);
        }
        assert_eq!(s.position(), ids.len() + tokens.len());
    }
    assert!(saw_end_of_turn, "some reply of the chat model ends its turn (see make_chat_model.py)");
}

#[test]
fn step_tokens_and_text() {
    let model = open(chat_model_path());
    let ids = model.chat_template(&[("user", "abc")], true).unwrap();
    let mut s = model.session(&session_options()).unwrap();
    s.feed(&ids).unwrap();
    let mut toks = Vec::new();
    loop {
        let t = s.step().unwrap();
        let done = t.end_of_turn;
        toks.push(t);
        if done || toks.len() == 30 {
            break;
        }
    }
    let last = toks.last().unwrap();
    assert!(last.end_of_turn, "the reply to \"abc\" ends its turn");
    assert_eq!(last.id, model.special_token(SpecialToken::EndOfTurn).unwrap());
    assert_eq!(last.text, "");
    for t in &toks[..toks.len() - 1] {
        assert!(!t.end_of_turn);
        assert!(!t.text.is_empty(), "greedy replies of the chat model are whole-character pieces");
    }
    let ids_out: Vec<i32> = toks.iter().map(|t| t.id).collect();
    let text: String = toks.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(text, model.detokenize(&ids_out, true).unwrap());

    // A conversation: the next turn re-fed with feed_prompt reuses what the session holds.
    let reply = model.detokenize(&ids_out, true).unwrap();
    let turns = [("user", "abc"), ("model", reply.as_str()), ("user", "Hi")];
    let full = model.chat_template(&turns, true).unwrap();
    let held = s.position();
    let reused = s.feed_prompt(&full).unwrap();
    assert!(reused > ids.len() && reused <= held, "reused {reused} of {held}");
    assert_eq!(s.tokens().unwrap(), full);
    // The same reply as a fresh session fed the whole conversation.
    let mut fresh = model.session(&session_options()).unwrap();
    let a: Vec<i32> = {
        let mut g = s.generate(&[], 8);
        g.by_ref().for_each(|p| drop(p.unwrap()));
        g.tokens().to_vec()
    };
    let b: Vec<i32> = {
        let mut g = fresh.generate(&full, 8);
        g.by_ref().for_each(|p| drop(p.unwrap()));
        g.tokens().to_vec()
    };
    assert_eq!(a, b);
}

#[test]
fn seeded_text_generation() {
    let model = open(chat_model_path());
    let ids = model.chat_template(&[("user", "Hello there")], true).unwrap();
    // The model's vocabulary (2048) is larger than its tokenizer's (2000): ban the ids
    // without text so that detokenize can check the pieces.
    let n_text = model.tokenizer_vocab_size().unwrap();
    assert!(n_text <= model.vocab_size());
    let ban: Vec<(i32, f32)> = (n_text..model.vocab_size()).map(|i| (i as i32, f32::NEG_INFINITY)).collect();
    let sampled = |seed| SamplerOptions { logit_bias: ban.clone(), ..SamplerOptions::sampled(1.0, seed) };
    let run = |sampler: Option<SamplerOptions>| {
        let opts = match sampler {
            Some(s) => sampled_options(s),
            None => session_options(),
        };
        let mut s = model.session(&opts).unwrap();
        let mut g = s.generate(&ids, 16);
        let text: String = g.by_ref().map(|p| p.unwrap()).collect();
        (text, g.tokens().to_vec())
    };
    let a = run(Some(sampled(42)));
    let b = run(Some(sampled(42)));
    assert_eq!(a, b);
    assert_ne!(a.1, run(None).1);
    assert_eq!(a.0, model.detokenize(&a.1, true).unwrap());
}
