#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/gpt2-vocab.gguf: GPT-2's tokenizer as a
vocabulary-only GGUF (no tensors) written by llama.cpp's gguf-py.

The metadata is what llama.cpp's convert_hf_to_gguf.py stores for a GPT-2
model (_set_vocab_gpt2 + SpecialVocab on openai-community/gpt2):
  tokenizer.ggml.model        "gpt2"
  tokenizer.ggml.pre          "gpt-2"
  tokenizer.ggml.tokens       the 50,257 tokens of encoder.json, in id order
  tokenizer.ggml.token_type   NORMAL, except CONTROL for <|endoftext|> (a
                              special added token in Hugging Face's tokenizer)
  tokenizer.ggml.merges       the 50,000 merges of vocab.bpe, "a b", in rank order
  tokenizer.ggml.bos_token_id / eos_token_id   50256 (from GPT-2's config.json)

Run with Debian's python3 and a llama.cpp checkout (gguf-py imports numpy and
sentencepiece: python3-numpy, python3-sentencepiece):
  PYTHONPATH=LLAMA_CPP/gguf-py /usr/bin/python3 tests/tools/make_gpt2_vocab_gguf.py \
      tests/fixtures/text tests/fixtures/gguf/gpt2-vocab.gguf
"""
import json
import sys

import gguf

EOT = "<|endoftext|>"


def read_vocab(fixtures):
    with open(f"{fixtures}/encoder.json", encoding="utf-8") as f:
        ids = json.load(f)
    tokens = [None] * len(ids)
    for token, i in ids.items():
        tokens[i] = token
    if any(t is None for t in tokens):
        sys.exit("encoder.json: ids are not 0..n-1")
    return tokens


def read_merges(fixtures):
    merges = []
    with open(f"{fixtures}/vocab.bpe", encoding="utf-8") as f:
        for n, line in enumerate(f):
            line = line.rstrip("\r\n")
            if not line or (n == 0 and line.startswith("#version")):
                continue
            left, right = line.split(" ")  # exactly one space: fails loudly otherwise
            merges.append(f"{left} {right}")
    return merges


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fixtures, out = sys.argv[1], sys.argv[2]
    tokens = read_vocab(fixtures)
    merges = read_merges(fixtures)
    eot = tokens.index(EOT)
    types = [gguf.TokenType.CONTROL if i == eot else gguf.TokenType.NORMAL for i in range(len(tokens))]

    writer = gguf.GGUFWriter(out, "gpt2")
    writer.add_name("GPT-2 tokenizer (vocabulary only)")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(eot)
    writer.add_eos_token_id(eot)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    print(f"wrote {out}: {len(tokens)} tokens, {len(merges)} merges", file=sys.stderr)


if __name__ == "__main__":
    main()
