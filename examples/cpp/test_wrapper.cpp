// SPDX-License-Identifier: Apache-2.0
// Checks of the C++ wrapper gemma2.hpp (not an example: the examples suite runs it).
//   test_wrapper CHAT_MODEL NO_TOKENIZER_MODEL
// CHAT_MODEL has a tokenizer; NO_TOKENIZER_MODEL has none.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gemma2.hpp"

static int failures = 0;
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

// The status of the gemma2::error f throws, or -1 if it throws none.
template <typename F> static gemma2_status thrown(F f) {
    try {
        f();
    } catch (const gemma2::error &e) {
        CHECK(e.what()[0] != '\0');
        return e.status();
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s CHAT_MODEL NO_TOKENIZER_MODEL\n", argv[0]);
        return 2;
    }
    const std::string chat_path = argv[1], bare_path = argv[2];

    // failures throw gemma2::error with the status and the library's message
    CHECK(thrown([] { gemma2::Model m("/nonexistent/model.g2"); }) == GEMMA2_ERR_IO);
    gemma2::Model bare(bare_path);
    CHECK(thrown([&] { bare.tokenize("hi"); }) == GEMMA2_ERR_UNSUPPORTED);

    gemma2::Model model(chat_path);
    const std::string text = "Hello, world! \xc3\xbcn\xc3\xaf \xe2\x82\xac 123"; // "ünï €"
    std::vector<int32_t> ids = model.tokenize(text);
    CHECK(!ids.empty() && model.detokenize(ids) == text);
    CHECK(model.detokenize({}).empty());
    const std::vector<int32_t> prompt = model.chat_tokenize({{"user", "Hello there"}});
    CHECK(prompt.size() > 4 && prompt[0] == model.special_token(GEMMA2_TOKEN_BOS));

    // moving hands over the handle; the moved-from object holds nothing and throws
    gemma2::Model moved(std::move(model));
    CHECK(moved && !model && moved.vocab_size() == 2048 && model.vocab_size() == 0);
    CHECK(thrown([&] { model.tokenize("x"); }) == GEMMA2_ERR_INVALID_ARGUMENT);
    model = std::move(moved);
    CHECK(model && !moved);

    // step and generate give the same tokens and text
    const uint32_t n = 12;
    gemma2::Session stepped(model);
    stepped.feed(prompt);
    std::vector<int32_t> step_ids;
    std::string step_text;
    for (uint32_t i = 0; i < n; i++) {
        gemma2::StepResult r = stepped.step();
        step_ids.push_back(r.token);
        step_text += r.text;
        if (r.end_of_turn)
            break;
    }
    gemma2::Session generated(model);
    generated.feed(prompt);
    std::vector<int32_t> gen_ids;
    std::string gen_text;
    gemma2::GenerateResult g = generated.generate(
        [&](int32_t token, const std::string &piece) {
            if (token >= 0)
                gen_ids.push_back(token);
            gen_text += piece;
            return true;
        },
        n);
    CHECK(gen_ids == step_ids && gen_text == step_text && g.n_tokens == gen_ids.size());
    CHECK(generated.position() == prompt.size() + gen_ids.size());

    // a callback returning false stops after its token; one that throws stops too, and
    // its exception leaves generate with the token kept in the session
    gemma2::Session s(model, 64, 1);
    s.feed(prompt);
    g = s.generate([](int32_t, const std::string &) { return false; });
    CHECK(g.stop_reason == GEMMA2_STOP_CALLBACK && g.n_tokens == 1 && s.position() == prompt.size() + 1);
    bool caught = false;
    try {
        s.generate([](int32_t, const std::string &) -> bool { throw std::logic_error("from the callback"); });
    } catch (const std::logic_error &e) {
        caught = std::string(e.what()) == "from the callback";
    }
    CHECK(caught && s.position() == prompt.size() + 2);

    // a full context ends generation normally; feeding past it throws, changing nothing
    g = s.generate([](int32_t, const std::string &) { return true; }, 0);
    CHECK(g.stop_reason == GEMMA2_STOP_CONTEXT_FULL || g.stop_reason == GEMMA2_STOP_END_OF_TURN);
    const uint32_t pos = s.position();
    CHECK(thrown([&] { s.feed(std::vector<int32_t>(65, 7)); }) == GEMMA2_ERR_CONTEXT_FULL &&
          s.position() == pos);

    // a session keeps the model alive after the Model object is gone
    gemma2::Session orphan = [&] {
        gemma2::Model local(chat_path);
        return gemma2::Session(local);
    }();
    orphan.feed(prompt);
    CHECK(orphan.step().token == step_ids[0]);
    gemma2::Session other(std::move(orphan));
    CHECK(other && !orphan && thrown([&] { orphan.step(); }) == GEMMA2_ERR_INVALID_ARGUMENT);

    // a sampler: the same seed gives the same tokens
    gemma2_sampler_options so = gemma2::sampler_options();
    so.temperature = 1.5f;
    so.seed = 42;
    std::vector<int32_t> runs[2];
    for (std::vector<int32_t> &run : runs) {
        gemma2::Session t(model, 0, 0, &so);
        t.feed(prompt);
        t.generate(
            [&](int32_t token, const std::string &) {
                if (token >= 0)
                    run.push_back(token);
                return true;
            },
            8);
    }
    CHECK(runs[0].size() > 0 && runs[0] == runs[1]);

    if (failures)
        std::fprintf(stderr, "%d checks failed\n", failures);
    else
        std::printf("all checks passed\n");
    return failures ? 1 : 0;
}
