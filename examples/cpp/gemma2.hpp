// SPDX-License-Identifier: Apache-2.0
// gemma2.hpp: a small header-only C++11 wrapper of the gemma2 C API (gemma2.h).
//
//   gemma2::Model model("model.g2");             // throws gemma2::error on failure
//   gemma2::Session session(model);              // may outlive `model`
//   session.feed(model.chat_tokenize({{"user", "Hello"}}));
//   session.generate([](int32_t, const std::string &text) {
//       std::cout << text << std::flush;
//       return true;                             // false stops after this token
//   });
//
// Model and Session own their handle alone: they can be moved, not copied; a
// moved-from object holds nothing, and any call on it throws GEMMA2_ERR_INVALID_ARGUMENT
// (the C library's check of a NULL handle). Every failure throws gemma2::error, whose
// status() is the gemma2_status and what() the library's message. The C API stays
// reachable through get() for anything this wrapper leaves out.
#ifndef GEMMA2_HPP
#define GEMMA2_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gemma2.h>

namespace gemma2 {

// A failed call: the status and the library's message for it.
class error : public std::runtime_error {
  public:
    error(gemma2_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    gemma2_status status() const noexcept { return status_; }

  private:
    gemma2_status status_;
};

namespace detail {
// Throws gemma2::error if st is not GEMMA2_OK. Call it right after the failing call:
// the message is the calling thread's last one.
inline void check(gemma2_status st) {
    if (st == GEMMA2_OK)
        return;
    const char *msg = gemma2_last_error();
    throw error(st, msg[0] ? std::string(msg) : std::string(gemma2_status_string(st)));
}
} // namespace detail

// One turn of a chat: role "user", "model" or "system", and its text.
struct Turn {
    std::string role;
    std::string text;
};

// What gemma2_session_step chose.
struct StepResult {
    int32_t token;    // the token id
    bool end_of_turn; // it ends the model's turn (<end_of_turn> or <eos>)
    std::string text; // the text it completes (empty for special pieces)
};

// How gemma2_session_generate ended.
struct GenerateResult {
    uint32_t stop_reason; // GEMMA2_STOP_*
    uint64_t n_tokens;    // tokens generated (each fed to the session)
};

// Called with each token generated and the text that became final with it (see
// gemma2_text_callback); return true to go on, false to stop after this token. An
// exception it throws stops generation and leaves Session::generate.
typedef std::function<bool(int32_t token, const std::string &text)> TextCallback;

// Sampler options with the library's defaults (greedy); change fields, then pass a
// pointer to Session or Session::set_sampler.
inline gemma2_sampler_options sampler_options() {
    gemma2_sampler_options o;
    detail::check(gemma2_sampler_options_init(&o, sizeof o));
    return o;
}

// An open model file (immutable: any number of threads and sessions may share it).
class Model {
  public:
    // flags: GEMMA2_MODEL_*; n_threads: for digest checks at open (0 = all CPUs).
    explicit Model(const std::string &path, uint32_t flags = 0, int32_t n_threads = 0) {
        gemma2_model_options o;
        detail::check(gemma2_model_options_init(&o, sizeof o));
        o.flags = flags;
        o.n_threads = n_threads;
        detail::check(gemma2_model_open(path.c_str(), &o, &m_));
    }
    ~Model() { gemma2_model_close(m_); }
    Model(Model &&other) noexcept : m_(other.m_) { other.m_ = nullptr; }
    Model &operator=(Model &&other) noexcept {
        if (this != &other) {
            gemma2_model_close(m_);
            m_ = other.m_;
            other.m_ = nullptr;
        }
        return *this;
    }
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;

    gemma2_model *get() const noexcept { return m_; }
    explicit operator bool() const noexcept { return m_ != nullptr; }
    uint32_t vocab_size() const noexcept { return gemma2_model_vocab_size(m_); }
    uint32_t context_length() const noexcept { return gemma2_model_context_length(m_); }

    // The model's tokenizer, owned by the model; throws GEMMA2_ERR_UNSUPPORTED if the
    // file has none.
    const gemma2_tokenizer *tokenizer() const {
        const gemma2_tokenizer *tok = nullptr;
        detail::check(gemma2_model_tokenizer(m_, &tok));
        return tok;
    }
    // Id of a special token (GEMMA2_TOKEN_*), or -1 if the vocabulary has none.
    int32_t special_token(int32_t which) const { return gemma2_token_special(tokenizer(), which); }

    // text to ids, no <bos> added; flags: GEMMA2_TOKENIZE_SPECIAL parses "<bos>" etc.
    std::vector<int32_t> tokenize(const std::string &text, uint32_t flags = 0) const {
        const gemma2_tokenizer *tok = tokenizer();
        std::vector<int32_t> ids(text.size() + 16);
        size_t n = 0;
        gemma2_status st = gemma2_tokenize(tok, text.data(), text.size(), flags, ids.data(), ids.size(), &n);
        if (st == GEMMA2_ERR_BUFFER_TOO_SMALL) { // n is the size it needs
            ids.resize(n);
            st = gemma2_tokenize(tok, text.data(), text.size(), flags, ids.data(), ids.size(), &n);
        }
        detail::check(st);
        ids.resize(n);
        return ids;
    }

    // The Gemma 2 chat prompt of turns (<bos> first unless GEMMA2_CHAT_NO_BOS); by
    // default it ends with the model's turn opened.
    std::vector<int32_t> chat_tokenize(const std::vector<Turn> &turns,
                                       uint32_t flags = GEMMA2_CHAT_ADD_GENERATION_PROMPT) const {
        const gemma2_tokenizer *tok = tokenizer();
        std::vector<const char *> roles, texts;
        std::vector<size_t> lens;
        for (const Turn &t : turns) {
            roles.push_back(t.role.c_str());
            texts.push_back(t.text.data());
            lens.push_back(t.text.size());
        }
        size_t n = 0;
        gemma2_status st = gemma2_chat_tokenize(tok, roles.data(), texts.data(), lens.data(), turns.size(),
                                                flags, nullptr, 0, &n);
        std::vector<int32_t> ids(n);
        if (st == GEMMA2_ERR_BUFFER_TOO_SMALL)
            st = gemma2_chat_tokenize(tok, roles.data(), texts.data(), lens.data(), turns.size(), flags,
                                      ids.data(), ids.size(), &n);
        detail::check(st);
        ids.resize(n);
        return ids;
    }

    // ids to text (raw bytes); flags: GEMMA2_DETOKENIZE_SKIP_SPECIAL.
    std::string detokenize(const std::vector<int32_t> &ids, uint32_t flags = 0) const {
        const gemma2_tokenizer *tok = tokenizer();
        if (ids.empty())
            return std::string();
        std::string text(ids.size() * 8, '\0');
        size_t len = 0;
        gemma2_status st = gemma2_detokenize(tok, ids.data(), ids.size(), flags, &text[0], text.size(), &len);
        if (st == GEMMA2_ERR_BUFFER_TOO_SMALL) { // len is the size it needs
            text.resize(len);
            st = gemma2_detokenize(tok, ids.data(), ids.size(), flags, &text[0], text.size(), &len);
        }
        detail::check(st);
        text.resize(len);
        return text;
    }

  private:
    gemma2_model *m_ = nullptr;
};

// One conversation on a model: KV cache, logits, sampler. One thread at a time; it
// holds its own reference on the model, so it may outlive the Model object.
class Session {
  public:
    // n_ctx: context length (0 = the model's); n_threads: 0 = all CPUs; sampler: NULL
    // = greedy (copied).
    explicit Session(const Model &model, uint32_t n_ctx = 0, int32_t n_threads = 0,
                     const gemma2_sampler_options *sampler = nullptr) {
        gemma2_session_options o;
        detail::check(gemma2_session_options_init(&o, sizeof o));
        o.n_ctx = n_ctx;
        o.n_threads = n_threads;
        o.sampler = sampler;
        detail::check(gemma2_session_new(model.get(), &o, &s_));
    }
    ~Session() { gemma2_session_free(s_); }
    Session(Session &&other) noexcept : s_(other.s_) { other.s_ = nullptr; }
    Session &operator=(Session &&other) noexcept {
        if (this != &other) {
            gemma2_session_free(s_);
            s_ = other.s_;
            other.s_ = nullptr;
        }
        return *this;
    }
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    gemma2_session *get() const noexcept { return s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

    // Tokens held (the next position).
    uint32_t position() const {
        uint32_t n = 0;
        detail::check(gemma2_session_position(s_, &n));
        return n;
    }
    // Feeds tokens (all or nothing): GEMMA2_ERR_CONTEXT_FULL leaves the session as it was.
    void feed(const std::vector<int32_t> &tokens) {
        detail::check(gemma2_session_feed(s_, tokens.data(), tokens.size()));
    }
    void reset() { detail::check(gemma2_session_reset(s_)); }
    void set_sampler(const gemma2_sampler_options *sampler) {
        detail::check(gemma2_session_set_sampler(s_, sampler));
    }
    // From another thread: makes the running feed or step throw GEMMA2_ERR_CANCELLED.
    void cancel() noexcept { gemma2_session_cancel(s_); }

    // Chooses the next token, feeds it and returns it.
    StepResult step() {
        gemma2_step_result r;
        detail::check(gemma2_step_result_init(&r, sizeof r));
        detail::check(gemma2_session_step(s_, &r));
        StepResult out;
        out.token = r.token;
        out.end_of_turn = (r.flags & GEMMA2_STEP_END_OF_TURN) != 0;
        out.text = r.text ? std::string(r.text, static_cast<size_t>(r.text_len)) : std::string();
        return out;
    }

    // Generates until the model's turn ends, max_tokens are made (0 = no limit but the
    // context), a stop string appears, the callback returns false or the context is
    // full (not an error: stop_reason GEMMA2_STOP_CONTEXT_FULL).
    GenerateResult generate(const TextCallback &callback, uint32_t max_tokens = 0,
                            const std::vector<std::string> &stops = std::vector<std::string>()) {
        std::vector<const char *> stop_ptrs;
        for (const std::string &s : stops)
            stop_ptrs.push_back(s.c_str());
        gemma2_generate_options o;
        detail::check(gemma2_generate_options_init(&o, sizeof o));
        o.max_tokens = max_tokens;
        o.stop = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
        o.n_stop = static_cast<uint32_t>(stop_ptrs.size());
        gemma2_generate_result r;
        detail::check(gemma2_generate_result_init(&r, sizeof r));
        Thunk thunk = {&callback, std::exception_ptr()};
        gemma2_status st = gemma2_session_generate(s_, &o, callback ? on_text : nullptr, &thunk, &r);
        if (thunk.error) // the callback threw: the exception goes on from here
            std::rethrow_exception(thunk.error);
        detail::check(st);
        GenerateResult out;
        out.stop_reason = r.stop_reason;
        out.n_tokens = r.n_tokens;
        return out;
    }

  private:
    struct Thunk {
        const TextCallback *callback;
        std::exception_ptr error;
    };
    // The C callback: no exception may unwind through the C library, so one thrown by
    // the callback is kept and stops generation.
    static int on_text(void *user, int32_t token, const char *text, size_t len) {
        Thunk *t = static_cast<Thunk *>(user);
        try {
            return (*t->callback)(token, text ? std::string(text, len) : std::string()) ? 0 : 1;
        } catch (...) {
            t->error = std::current_exception();
            return 1;
        }
    }

    gemma2_session *s_ = nullptr;
};

} // namespace gemma2

#endif // GEMMA2_HPP
