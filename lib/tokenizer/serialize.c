/* SPDX-License-Identifier: Apache-2.0 */
/* A loaded tokenizer back to a blob (blob.h), for writing a model that was not read
 * from a gemma2 file (a GGUF): pieces in id order, merges from the lookup table. */
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"

gemma2_status g2_tokenizer_serialize(const gemma2_tokenizer *tok, uint8_t **blob, size_t *size) {
    *blob = NULL;
    *size = 0;
    uint64_t pieces_bytes = 0, n_merges = 0;
    for (uint32_t i = 0; i < tok->n_pieces; i++)
        pieces_bytes += 4u + tok->pieces[i].len;
    if (tok->merge_slots)
        for (uint64_t i = 0; i <= tok->merge_mask; i++)
            n_merges += tok->merge_slots[i].key != 0;
    const uint64_t padded = (pieces_bytes + 3) / 4 * 4;
    const uint64_t total = sizeof(g2_tok_header) + padded + n_merges * sizeof(g2_tok_merge);
    if (pieces_bytes > UINT32_MAX || n_merges > G2_TOK_MAX_MERGES)
        return g2_error(GEMMA2_ERR_INTERNAL, "tokenizer too large to serialize");
    uint8_t *out = g2_calloc(1, (size_t)total);
    if (!out)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory serializing the tokenizer");
    g2_tok_header h = {.version = G2_TOK_VERSION,
                       .n_pieces = tok->n_pieces,
                       .n_merges = (uint32_t)n_merges,
                       .flags = tok->flags,
                       .unk_id = tok->unk_id,
                       .bos_id = tok->bos_id,
                       .eos_id = tok->eos_id,
                       .pad_id = tok->pad_id,
                       .start_of_turn_id = tok->start_of_turn_id,
                       .end_of_turn_id = tok->end_of_turn_id,
                       .pieces_bytes = (uint32_t)pieces_bytes};
    memcpy(h.magic, G2_TOK_MAGIC, 4);
    memcpy(out, &h, sizeof h);
    uint8_t *p = out + sizeof h;
    for (uint32_t i = 0; i < tok->n_pieces; i++) {
        const g2_piece *pc = &tok->pieces[i];
        p[0] = pc->type;
        p[1] = pc->flags;
        memcpy(p + 2, &pc->len, 2);
        memcpy(p + 4, tok->text + pc->offset, pc->len);
        p += 4u + pc->len;
    }
    p = out + sizeof h + padded;
    if (tok->merge_slots)
        for (uint64_t i = 0; i <= tok->merge_mask; i++) {
            const g2_merge_slot *s = &tok->merge_slots[i];
            if (!s->key)
                continue;
            g2_tok_merge mg = {(uint32_t)((s->key - 1) >> 32), (uint32_t)(s->key - 1), s->result, s->rank};
            memcpy(p, &mg, sizeof mg);
            p += sizeof mg;
        }
    *blob = out;
    *size = (size_t)total;
    return GEMMA2_OK;
}
