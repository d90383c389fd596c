/* SPDX-License-Identifier: Apache-2.0 */
/* The Gemma 2 chat template, built from ids: turn markers are inserted as tokens and
 * never parsed out of text, so a turn's text cannot open or close a turn. */
#include "tokenizer/chat.h"
#include "runtime/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

static int role_is(const char *role, const char *name) { return strcmp(role, name) == 0; }

/* Encodes "ROLE\nPREFIX TEXT" in plain mode (PREFIX: a pending system text). */
static gemma2_status encode_turn(const gemma2_tokenizer *tok, const char *role, const char *prefix,
                                 size_t prefix_len, const char *text, size_t len, g2_ids *out) {
    size_t role_len = strlen(role), total = role_len + 1 + prefix_len + len;
    char *buf = g2_malloc(total ? total : 1);
    if (!buf)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory building a chat prompt");
    memcpy(buf, role, role_len);
    buf[role_len] = '\n';
    if (prefix_len) /* memcpy needs valid pointers even for 0 bytes */
        memcpy(buf + role_len + 1, prefix, prefix_len);
    if (len)
        memcpy(buf + role_len + 1 + prefix_len, text, len);
    gemma2_status st = g2_encode(tok, buf, total, 0, out);
    free(buf);
    return st;
}

gemma2_status g2_chat_encode(const gemma2_tokenizer *tok, const char *const *roles, const char *const *texts,
                             const size_t *lens, size_t n, uint32_t flags, g2_ids *out) {
    if (tok->start_of_turn_id < 0 || tok->end_of_turn_id < 0)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "the vocabulary has no <start_of_turn>/<end_of_turn> pieces");
    if (!(flags & GEMMA2_CHAT_NO_BOS)) {
        if (tok->bos_id < 0)
            return g2_error(GEMMA2_ERR_UNSUPPORTED, "the vocabulary has no <bos> piece");
        if (g2_ids_push(out, tok->bos_id))
            return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory building a chat prompt");
    }
    char *system = NULL; /* "SYSTEM\n\n", waiting for the next user turn */
    size_t system_len = 0;
    gemma2_status st = GEMMA2_OK;
    for (size_t i = 0; i < n && st == GEMMA2_OK; i++) {
        const char *role = roles[i];
        if (role_is(role, "system")) {
            char *grown = g2_realloc(system, system_len + lens[i] + 2);
            if (!grown) {
                st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory building a chat prompt");
                break;
            }
            system = grown;
            if (lens[i])
                memcpy(system + system_len, texts[i], lens[i]);
            memcpy(system + system_len + lens[i], "\n\n", 2);
            system_len += lens[i] + 2;
            continue;
        }
        if (role_is(role, "assistant"))
            role = "model";
        if (!role_is(role, "user") && !role_is(role, "model")) {
            st = g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "unknown chat role '%s' (user, model, assistant, system)",
                          role);
            break;
        }
        int takes_system = role_is(role, "user");
        if (g2_ids_push(out, tok->start_of_turn_id))
            st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory building a chat prompt");
        if (st == GEMMA2_OK)
            st = encode_turn(tok, role, takes_system ? system : NULL, takes_system ? system_len : 0, texts[i],
                             lens[i], out);
        if (takes_system)
            system_len = 0;
        if (st == GEMMA2_OK && g2_ids_push(out, tok->end_of_turn_id))
            st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory building a chat prompt");
        if (st == GEMMA2_OK)
            st = g2_encode(tok, "\n", 1, 0, out);
    }
    if (st == GEMMA2_OK && system_len)
        st = g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "a system turn must be followed by a user turn");
    if (st == GEMMA2_OK && (flags & GEMMA2_CHAT_ADD_GENERATION_PROMPT)) {
        if (g2_ids_push(out, tok->start_of_turn_id))
            st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory building a chat prompt");
        else
            st = g2_encode(tok, "model\n", 6, 0, out);
    }
    free(system);
    return st;
}
