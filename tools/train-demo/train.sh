#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Reproduces the demo model models/demo-q8.g2 from scratch (README.md in this folder):
#   1. the King James Bible as text, from the Debian packages bible-kjv and bible-kjv-text;
#   2. a SentencePiece BPE tokenizer trained on it by Debian's spm_train;
#   3. a Gemma 2 model trained on it by train.py (Debian's python3-torch);
#   4. the Hugging Face checkpoint converted by `gemma2 convert --dtype q8`;
#   5. reference logits of the q8 weights from our PyTorch forward (export_logits.py);
#   6. sample text.
#
# usage: tools/train-demo/train.sh OUTDIR [--install]
#   Everything is written under OUTDIR; --install then copies the model to models/ and
#   the test data to tests/data/demo/. Needs build/gemma2 (or GEMMA2=path).
#   TRAIN_STEPS=N shortens the training, to check the pipeline.
set -eu
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 OUTDIR [--install]" >&2; exit 2; }
install=0
[ $# -eq 2 ] && { [ "$2" = "--install" ] || { echo "usage: $0 OUTDIR [--install]" >&2; exit 2; }; install=1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
gemma2=${GEMMA2:-$root/build/gemma2}
case $gemma2 in /*) ;; *) gemma2=$(pwd)/$gemma2 ;; esac
[ -x "$gemma2" ] || { echo "$0: $gemma2 not found: build gemma2 first (ninja -C build)" >&2; exit 1; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
# Debian's python3-torch is installed for /usr/bin/python3, which may not be the
# python3 first on PATH.
python=/usr/bin/python3
$python -c "import torch, numpy" 2>/dev/null || {
    echo "$0: $python lacks torch or numpy (apt-get install python3-torch python3-numpy)" >&2; exit 1; }
command -v spm_train >/dev/null || { echo "$0: spm_train missing (apt-get install sentencepiece)" >&2; exit 1; }

# torch calls the system libblas.so.3, which Debian points at the reference BLAS unless
# another is selected. OpenBLAS (libopenblas0-pthread) trains about 8 times faster; use
# it when installed, whatever the system default. Two threads everywhere: the results
# depend on the thread count, and training is reproducible only with a fixed one.
multiarch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
openblas=/usr/lib/$multiarch/openblas-pthread
if [ -f "$openblas/libblas.so.3" ]; then
    LD_LIBRARY_PATH=$openblas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LD_LIBRARY_PATH
else
    echo "note: libopenblas0-pthread is not installed; training will be much slower" >&2
fi
OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
export OPENBLAS_NUM_THREADS OMP_NUM_THREADS
start=$(date +%s)
stamp() { echo "== $(( $(date +%s) - start )) s: $*"; }

# sh has no pipefail: each stage piped into tee is checked by the file it must leave,
# removed first.
rm -rf "$out/kjv.txt" "$out/gemma2-demo-kjv"

stamp "text"
"$here/extract_text.sh" "$out/kjv.txt" | tee "$out/text-source.txt"
[ -f "$out/kjv.txt" ]

stamp "tokenizer"
# Relative paths: spm_train records them in the model, which is then the same bytes
# whatever OUTDIR is. Gemma's conventions: BPE with byte fallback, <pad>=0 <eos>=1
# <bos>=2 <unk>=3, <start_of_turn> and <end_of_turn> as user-defined pieces 4 and 5,
# no normalization, no dummy prefix, whitespace kept as is, digits split.
(cd "$out" && spm_train --input=kjv.txt --model_prefix=tokenizer --model_type=bpe \
    --vocab_size=4096 --byte_fallback=true --character_coverage=1.0 \
    --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 \
    --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' --unk_piece='<unk>' \
    --user_defined_symbols='<start_of_turn>,<end_of_turn>' \
    --normalization_rule_name=identity --add_dummy_prefix=false --remove_extra_whitespaces=false \
    --split_digits=true --input_sentence_size=0 --shuffle_input_sentence=false \
    --num_threads=2 --minloglevel=1)
printf 'And God said, Let there be light.' | "$gemma2" tokenize "$out/tokenizer.model" --plain

stamp "training"
# TRAIN_STEPS=N trains N steps instead of train.py's 1,100: a quick check of the pipeline.
$python "$here/train.py" "$out/kjv.txt" "$out/tokenizer.model" "$gemma2" "$out/gemma2-demo-kjv" \
    ${TRAIN_STEPS:+--steps "$TRAIN_STEPS"} 2>&1 |
    tee "$out/train-output.txt"
[ -f "$out/gemma2-demo-kjv/model.safetensors" ]

stamp "conversion"
# q8 throughout, the tied embedding included: 8.5 bits per weight (README.md compares
# a bf16 or f32 embedding). Uncompressed: zstd gains 4% on int8 weights, and the file
# is then used in place from its mapping. The folder's name is recorded in the file
# (metadata general.source).
"$gemma2" convert "$out/gemma2-demo-kjv" "$out/demo-q8.g2" --dtype q8
(cd "$out" && sha256sum demo-q8.g2 > demo-q8.g2.sha256 && cat demo-q8.g2.sha256)
"$gemma2" verify "$out/demo-q8.g2"

stamp "reference logits"
$python "$here/export_logits.py" "$gemma2" "$out/demo-q8.g2" "$out/logits" --checkpoint "$out/gemma2-demo-kjv"

# The words and word pairs of the text, for the test that the model writes words of
# its training text in its word order (tests/demo/test_demo.py).
$python "$here/make_wordlists.py" "$out/kjv.txt" "$out/logits"

stamp "samples"
for prompt in "And God said" "In the beginning" "Blessed are"; do
    echo "-- greedy: $prompt"
    "$gemma2" run "$out/demo-q8.g2" --raw -p "$prompt" -n 60 -t 2
    echo "-- greedy, repetition penalty 1.3 (as tools/demo.sh): $prompt"
    "$gemma2" run "$out/demo-q8.g2" --raw -p "$prompt" -n 60 -t 2 --repeat-penalty 1.3
    echo "-- sampled (temperature 0.7, top-k 40, seed 1): $prompt"
    "$gemma2" run "$out/demo-q8.g2" --raw -p "$prompt" -n 60 -t 2 --temp 0.7 --top-k 40 --seed 1
done | tee "$out/samples.txt"

if [ $install -eq 1 ]; then
    mkdir -p "$root/models" "$root/tests/data/demo"
    cp "$out/demo-q8.g2" "$out/demo-q8.g2.sha256" "$root/models/"
    cp "$out/logits/"* "$root/tests/data/demo/"
    stamp "installed models/demo-q8.g2 and tests/data/demo/"
fi
stamp "done"
