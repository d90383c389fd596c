// SPDX-License-Identifier: Apache-2.0
// generate: simple.c again, in C++ with the wrapper gemma2.hpp.
//
//   usage: generate MODEL [PROMPT] [N]
//
// Sends PROMPT as one user turn of Gemma's chat template and streams the model's reply
// (greedy, at most N tokens, default 256), then a newline: the same output as
// `simple MODEL PROMPT N` and `gemma2 run MODEL -p PROMPT -n N`.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "gemma2.hpp"

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        std::cerr << "usage: " << argv[0] << " MODEL [PROMPT] [N]\n";
        return 2;
    }
    const std::string prompt = argc > 2 ? argv[2] : "Why is the sky blue?";
    const long n_gen = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 256;
    try {
        gemma2::Model model(argv[1]);   // defaults: every tensor digest checked
        gemma2::Session session(model); // all CPUs, the model's context, greedy
        session.feed(model.chat_tokenize({{"user", prompt}}));
        if (n_gen > 0) {
            // steps until the end of the model's turn or n_gen tokens, passing on text
            gemma2::GenerateResult r = session.generate(
                [](int32_t, const std::string &text) {
                    std::cout << text << std::flush;
                    return true;
                },
                static_cast<uint32_t>(n_gen));
            if (r.stop_reason == GEMMA2_STOP_CONTEXT_FULL)
                std::cerr << "generate: the context is full\n";
        }
        std::cout << '\n';
    } catch (const gemma2::error &e) {
        std::cerr << "generate: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
