// `kiln data prepare` run as a user would, on small inputs the tests write:
// GPT-2 and character token files that decode back to the documents, a
// reproducible validation split, the manifest, and clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kiln/io/token_file.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/char_tokenizer.h"
#include "kiln_process.h"

namespace {

using namespace kiln_it;

/// The ids of `path`, split at `eot` into documents (each file starts with eot).
std::vector<std::vector<kiln::text::TokenId>> documents_of(const fs::path& path, std::int64_t eot) {
  const kiln::io::TokenFile f(path);
  std::vector<std::vector<kiln::text::TokenId>> docs;
  for (const std::uint16_t id : f.tokens()) {
    if (id == eot) {
      docs.emplace_back();
    } else {
      EXPECT_FALSE(docs.empty()) << path << " does not start with the end-of-text id";
      if (docs.empty()) docs.emplace_back();
      docs.back().push_back(id);
    }
  }
  return docs;
}

nlohmann::json manifest(const fs::path& dir) { return nlohmann::json::parse(slurp(dir / "manifest.json")); }

const std::vector<std::string> kLines = {
    "The quick brown fox jumps over the lazy dog.",
    "It's 3.14159 -- or so they say; we'd've known.",
    "  Indented, with trailing spaces   ",
    "Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 and \xe4\xb8\xad\xe6\x96\x87 text",
    "A line that mentions <|endoftext|> as plain text.",
    "Numbers 1234567890 and symbols #$%&*()",
    "Short.",
    "Tabs\tbetween\twords",
    "Another sentence about dogs and foxes.",
    "The last line of the file.",
};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n\n";  // blank lines are not documents
  return s;
}

TEST(DataPrepare, Gpt2LinesDecodeBackToTheDocuments) {
  const TempDir tmp;
  write_raw(tmp.path() / "in.txt", join_lines(kLines));
  const fs::path out = tmp.path() / "out";
  const Result r = run_kiln({"data", "prepare", "--input", (tmp.path() / "in.txt").string(), "--split-lines",
                             "--tokenizer", "gpt2", "--vocab", fixture("text"), "--val-fraction", "0.2",
                             "--output-dir", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"train.bin", "val.bin", "manifest.json"}) EXPECT_TRUE(fs::exists(out / name)) << name;
  EXPECT_FALSE(fs::exists(out / "char_tokenizer.json"));
  EXPECT_NE(r.out.find("vocabulary 50,257 (gpt2, end-of-text id 50256)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;

  const kiln::text::BpeTokenizer tok = kiln::text::BpeTokenizer::from_gpt2_files(fixture("text/encoder.json"),
                                                                                fixture("text/vocab.bpe"));
  const auto train = documents_of(out / "train.bin", 50256), val = documents_of(out / "val.bin", 50256);
  EXPECT_EQ(train.size(), 8u);
  EXPECT_EQ(val.size(), 2u);  // round(0.2 * 10)
  std::vector<std::string> decoded;
  for (const auto& d : train) decoded.push_back(tok.decode(d));
  for (const auto& d : val) decoded.push_back(tok.decode(d));
  for (const auto& d : train) EXPECT_EQ(d, tok.encode(tok.decode(d)));  // ordinary encoding, no special ids
  std::sort(decoded.begin(), decoded.end());
  std::vector<std::string> expected = kLines;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(decoded, expected);

  const kiln::io::TokenFile f(out / "train.bin");
  EXPECT_EQ(f.header_info().vocab_size, 50257);
  EXPECT_EQ(f.header_info().tokenizer, kiln::io::TokenizerKind::gpt2);
  const auto m = manifest(out);
  EXPECT_EQ(m["tokenizer"], "gpt2");
  EXPECT_EQ(m["vocab_size"], 50257);
  EXPECT_EQ(m["eot_id"], 50256);
  EXPECT_EQ(m["train"]["documents"], 8);
  EXPECT_EQ(m["val"]["documents"], 2);
  EXPECT_EQ(m["train"]["tokens"], f.size());
  EXPECT_EQ(m["source_files"], nlohmann::json::array({(tmp.path() / "in.txt").string()}));

  // Without --vocab: $KILN_GPT2_DIR, else the vocabulary compiled into kiln.
  const std::vector<std::string> no_vocab = {"data", "prepare", "--input", (tmp.path() / "in.txt").string(),
                                             "--split-lines", "--val-fraction", "0.2", "--output-dir",
                                             (tmp.path() / "default").string()};
  const Result d = run_kiln(no_vocab);
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(slurp(tmp.path() / "default" / "train.bin"), slurp(out / "train.bin"));
  expect_clean_error(run_kiln(no_vocab, {"KILN_GPT2_DIR=" + (tmp.path() / "nowhere").string()}),
                     (tmp.path() / "nowhere").string() + "' has no encoder.json");
}

TEST(DataPrepare, SplitIsReproducibleAndFollowsTheSeed) {
  const TempDir tmp;
  std::vector<std::string> lines;
  for (int i = 0; i < 40; ++i) lines.push_back("document number " + std::to_string(i));
  write_raw(tmp.path() / "in.txt", join_lines(lines));
  auto run = [&](const std::string& seed, const std::string& dir) {
    const Result r = run_kiln({"data", "prepare", "--input", (tmp.path() / "in.txt").string(), "--split-lines",
                               "--tokenizer", "char", "--seed", seed, "--val-fraction", "0.25", "--output-dir",
                               (tmp.path() / dir).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return slurp(tmp.path() / dir / "val.bin");
  };
  const std::string a = run("5", "a"), again = run("5", "b"), other = run("6", "c");
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other);
  EXPECT_EQ(manifest(tmp.path() / "a")["val"]["documents"], 10);
  EXPECT_EQ(slurp(tmp.path() / "a" / "train.bin"), slurp(tmp.path() / "b" / "train.bin"));
}

TEST(DataPrepare, CharVocabularyDecodesFortuneEntries) {
  const TempDir tmp;
  // Fortune-format Chinese text with the colour codes fortunes-zh uses.
  const std::vector<std::string> poems = {
      "\xe3\x80\x8a\xe9\x9d\x99\xe5\xa4\x9c\xe6\x80\x9d\xe3\x80\x8b\n"  // 《静夜思》
      "\xe5\xba\x8a\xe5\x89\x8d\xe6\x98\x8e\xe6\x9c\x88\xe5\x85\x89\xef\xbc\x8c",  // 床前明月光，
      "\xe7\x96\x91\xe6\x98\xaf\xe5\x9c\xb0\xe4\xb8\x8a\xe9\x9c\x9c\xe3\x80\x82",  // 疑是地上霜。
      "\xe4\xb8\xbe\xe5\xa4\xb4\xe6\x9c\x9b\xe6\x98\x8e\xe6\x9c\x88\n"              // 举头望明月
      "\xe4\xbd\x8e\xe5\xa4\xb4\xe6\x80\x9d\xe6\x95\x85\xe4\xb9\xa1",               // 低头思故乡
  };
  write_raw(tmp.path() / "poems", "\x1b[32m" + poems[0] + "\x1b[m\n%\n" + poems[1] + "\n%\n%\n" + poems[2] + "\n");
  const fs::path out = tmp.path() / "out";
  const Result r =
      run_kiln({"data", "prepare", "--input", (tmp.path() / "poems").string(), "--split-fortunes", "--strip-ansi",
                "--tokenizer", "char", "--val-fraction", "0", "--output-dir", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out / "char_tokenizer.json"));
  const auto tok = kiln::text::CharTokenizer::load((out / "char_tokenizer.json").string());
  const auto m = manifest(out);
  EXPECT_EQ(m["tokenizer"], "char");
  EXPECT_EQ(m["vocab_size"], tok.vocab_size());
  EXPECT_EQ(m["char_vocab"], "char_tokenizer.json");
  const std::int64_t eot = m["eot_id"];
  EXPECT_EQ(tok.special_token_id("<|endoftext|>"), eot);
  const auto docs = documents_of(out / "train.bin", eot);
  ASSERT_EQ(docs.size(), poems.size());
  for (std::size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(tok.decode(docs[i]), poems[i]) << "entry " << i;
  EXPECT_EQ(kiln::io::TokenFile(out / "val.bin").size(), 0);
  EXPECT_EQ(kiln::io::TokenFile(out / "train.bin").header_info().tokenizer, kiln::io::TokenizerKind::chars);
}

TEST(DataPrepare, HeldOutCharactersBecomeUnknown) {
  const TempDir tmp;
  // Two documents, one held out: its letters outside the training text become <unk>.
  write_raw(tmp.path() / "a.txt", "aaaa bbb");
  write_raw(tmp.path() / "b.txt", "xyz");
  const fs::path out = tmp.path() / "out";
  const Result r = run_kiln({"data", "prepare", "--input", (tmp.path() / "a.txt").string(),
                             (tmp.path() / "b.txt").string(), "--tokenizer", "char", "--val-fraction", "0.5",
                             "--output-dir", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = manifest(out);
  const std::int64_t held_out_chars = m["val"]["tokens"].get<std::int64_t>() - 1;  // less the eot
  EXPECT_EQ(m["val"]["unknown_chars"], held_out_chars);
  EXPECT_EQ(m["train"]["unknown_chars"], 0);
  EXPECT_NE(r.out.find("outside the vocabulary"), std::string::npos) << r.out;
}

TEST(DataPrepare, BadInputIsAClearError) {
  const TempDir tmp;
  write_raw(tmp.path() / "one.txt", "just one document");
  const std::string one = (tmp.path() / "one.txt").string(), out = (tmp.path() / "out").string();
  expect_clean_error(run_kiln({"data", "prepare", "--input", (tmp.path() / "missing.txt").string(), "--tokenizer",
                               "char", "--output-dir", out}),
                     "missing.txt: no such file");
  expect_clean_error(run_kiln({"data", "prepare", "--input", one, "--tokenizer", "bpe3", "--output-dir", out}),
                     "bpe3");
  expect_clean_error(run_kiln({"data", "prepare", "--tokenizer", "char", "--output-dir", out}),
                     "either --input FILE... or --source NAME");
  expect_clean_error(run_kiln({"data", "prepare", "--input", one, "--tokenizer", "char", "--output-dir", out}),
                     "at least 2 documents");
  expect_clean_error(run_kiln({"data", "prepare", "--input", one, "--tokenizer", "char", "--val-fraction", "1",
                               "--output-dir", out}),
                     "--val-fraction must be in [0, 1)");
  expect_clean_error(run_kiln({"data", "prepare", "--input", one, "--tokenizer", "gpt2", "--vocab",
                               tmp.path().string(), "--val-fraction", "0", "--output-dir", out}),
                     "has no encoder.json");
  expect_clean_error(run_kiln({"data", "prepare", "--input", one, "--tokenizer", "char", "--vocab", fixture("text"),
                               "--output-dir", out}),
                     "--vocab goes with --tokenizer gpt2");
  expect_clean_error(run_kiln({"data", "prepare", "--source", "poems", "--output-dir", out}), "poems");
  EXPECT_FALSE(fs::exists(out));  // nothing written on failure
}

}  // namespace
