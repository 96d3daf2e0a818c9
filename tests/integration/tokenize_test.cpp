// `kiln tokenize ...` run as a user would: GPT-2 ids checked against Hugging
// Face's, byte-exact round trips, counts, training then using the result, and
// clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "kiln_process.h"

namespace {

using namespace kiln_it;

std::vector<std::string> gpt2_args() {
  return {"--tokenizer", "gpt2", "--vocab", fixture("text/encoder.json"), "--merges", fixture("text/vocab.bpe")};
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::string ids_line(const nlohmann::json& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : " ") + std::to_string(id.get<long long>());
  return s;
}

/// English with punctuation, contractions, numbers, blank lines, indentation,
/// trailing spaces, tabs and non-ASCII text, ending without a newline.
const std::string kMixedText =
    "The quick brown fox -- it's 3.14159 times faster -- jumped.\n"
    "\n"
    "\n"
    "    Indented line with trailing spaces   \n"
    "\tTabbed\tcolumns\t42\n"
    "Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9, \xe4\xb8\xad\xe6\x96\x87, emoji \xf0\x9f\x98\x80!\n"
    "%\n"
    "They'll say \"don't\"; we'd've known.\n"
    "last line without newline";

// ---- encode -------------------------------------------------------------------

TEST(Tokenize, EncodeMatchesHuggingFaceGpt2Ids) {
  // Every fixture case as its own file, all encoded in one run (one line of ids
  // per file). The cases with <|endoftext|> expect its id, as Hugging Face
  // matches added tokens; --allow-special does the same.
  std::ifstream in(fixture("text/gpt2_tokenizer_cases.jsonl"));
  const TempDir tmp;
  std::vector<std::string> args = cat({"tokenize", "encode", "--allow-special"}, gpt2_args());
  std::vector<std::string> expected;
  std::string row;
  while (std::getline(in, row)) {
    const auto j = nlohmann::json::parse(row);
    const fs::path file = tmp.path() / ("case" + std::to_string(expected.size()) + ".txt");
    write_raw(file, j["text"].get<std::string>());
    args.push_back(file.string());
    expected.push_back(ids_line(j["ids"]));
  }
  ASSERT_FALSE(expected.empty()) << "no cases in text/gpt2_tokenizer_cases.jsonl";
  const Result r = run_kiln(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = lines_of(r.out);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "case " << i;
}

TEST(Tokenize, EncodeWholeFileKnownIds) {
  const TempDir tmp;
  write_raw(tmp.path() / "a.txt", "Hello world");
  write_raw(tmp.path() / "b.txt", "hello  world");
  const Result r = run_kiln(
      cat({"tokenize", "encode", (tmp.path() / "a.txt").string(), (tmp.path() / "b.txt").string()}, gpt2_args()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "15496 995\n31373 220 995\n");
  const Result j = run_kiln(cat({"tokenize", "encode", "--json", (tmp.path() / "a.txt").string()}, gpt2_args()));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(j.out, "[15496,995]\n");
  // Standard input when no file is named.
  const Result s = run_kiln(cat({"tokenize", "encode"}, gpt2_args()), {}, "Hello world");
  EXPECT_EQ(s.out, "15496 995\n") << s.err;
}

TEST(Tokenize, RoundTripIsByteExact) {
  const TempDir tmp;
  const fs::path text = tmp.path() / "mixed.txt", ids = tmp.path() / "ids.txt";
  write_raw(text, kMixedText + "\n" + slurp(fixture("text/tang300_excerpt.txt")));
  for (const std::string threads : {"1", "2"}) {
    SCOPED_TRACE("threads " + threads);
    const Result enc = run_kiln(cat({"tokenize", "encode", "--threads", threads, text.string()}, gpt2_args()));
    ASSERT_EQ(enc.exit_code, 0) << enc.err;
    ASSERT_EQ(lines_of(enc.out).size(), 1U);
    write_raw(ids, enc.out);
    const Result dec = run_kiln(cat({"tokenize", "decode", ids.string()}, gpt2_args()));
    ASSERT_EQ(dec.exit_code, 0) << dec.err;
    EXPECT_EQ(dec.out, slurp(text));
    // decode reads standard input too, and JSON arrays.
    const Result js = run_kiln(cat({"tokenize", "encode", "--json", text.string()}, gpt2_args()));
    const Result dec2 = run_kiln(cat({"tokenize", "decode", "-"}, gpt2_args()), {}, js.out);
    EXPECT_EQ(dec2.out, slurp(text)) << dec2.err;
  }
}

TEST(Tokenize, ThreadsDoNotChangeTheIds) {
  const TempDir tmp;
  std::string big;
  for (int i = 0; i < 400; ++i) big += kMixedText + "\nline " + std::to_string(i) + "\n";
  write_raw(tmp.path() / "big.txt", big);
  const Result one = run_kiln(cat({"tokenize", "encode", "--threads", "1", (tmp.path() / "big.txt").string()}, gpt2_args()));
  const Result two = run_kiln(cat({"tokenize", "encode", "--threads", "2", (tmp.path() / "big.txt").string()}, gpt2_args()));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(one.out, two.out);
}

TEST(Tokenize, LinesModeRoundTrips) {
  const std::string text = "first line\n\nthird 'line'\n  indented\n";
  const Result enc = run_kiln(cat({"tokenize", "encode", "--lines"}, gpt2_args()), {}, text);
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_EQ(lines_of(enc.out).size(), 4U);
  const Result dec = run_kiln(cat({"tokenize", "decode", "--lines"}, gpt2_args()), {}, enc.out);
  EXPECT_EQ(dec.out, text) << dec.err;
}

TEST(Tokenize, SpecialTokensOnlyWhenAllowed) {
  const std::string text = "a<|endoftext|>b";
  const Result plain = run_kiln(cat({"tokenize", "encode"}, gpt2_args()), {}, text);
  const Result special = run_kiln(cat({"tokenize", "encode", "--allow-special"}, gpt2_args()), {}, text);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(special.exit_code, 0) << special.err;
  EXPECT_EQ(plain.out.find("50256"), std::string::npos) << plain.out;
  EXPECT_EQ(special.out, "64 50256 65\n");
  const Result skip = run_kiln(cat({"tokenize", "decode", "--skip-special"}, gpt2_args()), {}, special.out);
  EXPECT_EQ(skip.out, "ab");
  const Result keep = run_kiln(cat({"tokenize", "decode"}, gpt2_args()), {}, special.out);
  EXPECT_EQ(keep.out, text);
}

// ---- count ----------------------------------------------------------------------

TEST(Tokenize, CountPerFileAndTotal) {
  const TempDir tmp;
  const fs::path a = tmp.path() / "a.txt", b = tmp.path() / "b.txt";
  write_raw(a, "Hello world");
  write_raw(b, kMixedText);
  const Result enc = run_kiln(cat({"tokenize", "encode", b.string()}, gpt2_args()));
  const std::size_t b_tokens = lines_of(enc.out).empty() ? 0 : std::count(enc.out.begin(), enc.out.end(), ' ') + 1;

  const Result r = run_kiln(cat({"tokenize", "count", a.string(), b.string()}, gpt2_args()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 4U) << r.out;  // header, two files, total
  EXPECT_TRUE(std::regex_search(rows[1], std::regex("^\\s*2\\s+11\\s+5\\.500\\s+" + a.string() + "$"))) << rows[1];
  EXPECT_TRUE(std::regex_search(rows[2], std::regex("^\\s*" + std::to_string(b_tokens) + "\\s"))) << rows[2];
  EXPECT_TRUE(std::regex_search(rows[3], std::regex("^\\s*" + std::to_string(b_tokens + 2) + "\\s.*total$")))
      << rows[3];

  const Result j = run_kiln(cat({"tokenize", "count", "--json", a.string(), b.string()}, gpt2_args()));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["files"][0]["tokens"], 2);
  EXPECT_EQ(doc["files"][1]["tokens"], b_tokens);
  EXPECT_EQ(doc["total"]["tokens"], b_tokens + 2);
  EXPECT_EQ(doc["total"]["bytes"], 11 + kMixedText.size());
}

// ---- train ------------------------------------------------------------------------

TEST(Tokenize, TrainThenEncodeWithTheResult) {
  const TempDir tmp;
  const fs::path corpus = tmp.path() / "fortunes";
  fs::create_directory(corpus);
  // Two small fortune files (and an index the reader must skip).
  std::string animals, sayings;
  for (int i = 0; i < 40; ++i) {
    animals += "The quick brown fox jumps over the lazy dog number " + std::to_string(i) + ".\n%\n";
    sayings += "A penny saved is a penny earned; the early bird catches the worm.\n%\n";
  }
  write_raw(corpus / "animals", animals);
  write_raw(corpus / "sayings", sayings);
  write_raw(corpus / "animals.dat", std::string("\0\0\0\2binary", 10));
  const fs::path out = tmp.path() / "tok.json";

  const Result tr = run_kiln({"tokenize", "train", corpus.string(), "--vocab-size", "300", "--special", "<|endoftext|>",
                              "--special", "<pad>", "-o", out.string()});
  ASSERT_EQ(tr.exit_code, 0) << tr.err;
  EXPECT_NE(tr.out.find("read 80 texts"), std::string::npos) << tr.out;
  EXPECT_NE(tr.out.find("from 2 files"), std::string::npos) << tr.out;
  // 300 = 2 special + 256 bytes + 42 merges.
  EXPECT_NE(tr.out.find("vocabulary of 300 tokens (42 merges, 2 special)"), std::string::npos) << tr.out;
  const auto json = nlohmann::json::parse(slurp(out));
  EXPECT_EQ(json["model"]["type"], "BPE");
  EXPECT_EQ(json["model"]["vocab"].size(), 300U);
  EXPECT_EQ(json["model"]["merges"].size(), 42U);
  EXPECT_EQ(json["added_tokens"][0]["content"], "<|endoftext|>");
  EXPECT_EQ(json["added_tokens"][0]["id"], 0);

  // With room for every merge, training stops when no pair is left and each
  // training word is one token; the special tokens have ids 0 and 1.
  const Result big = run_kiln({"tokenize", "train", corpus.string(), "--vocab-size", "1000", "--special",
                               "<|endoftext|>", "--special", "<pad>", "-o", out.string()});
  ASSERT_EQ(big.exit_code, 0) << big.err;
  const std::string text = "The quick brown fox jumps over the lazy dog<|endoftext|><pad>";
  const Result enc = run_kiln({"tokenize", "encode", "--allow-special", "--tokenizer", out.string()}, {}, text);
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  const std::size_t tokens = std::count(enc.out.begin(), enc.out.end(), ' ') + 1;
  EXPECT_EQ(tokens, 11U) << enc.out;
  EXPECT_TRUE(enc.out.ends_with(" 0 1\n")) << enc.out;
  const Result dec = run_kiln({"tokenize", "decode", "--tokenizer", out.string()}, {}, enc.out);
  EXPECT_EQ(dec.out, text) << dec.err;

  // A directory holding tokenizer.json works as --tokenizer too.
  fs::copy_file(out, tmp.path() / "tokenizer.json");
  const Result dir = run_kiln({"tokenize", "encode", "--allow-special", "--tokenizer", tmp.path().string()}, {}, text);
  EXPECT_EQ(dir.out, enc.out) << dir.err;
}

TEST(Tokenize, TrainOnPlainFiles) {
  const TempDir tmp;
  std::string text;
  for (int i = 0; i < 50; ++i) text += "low lower lowest newer wider\n";
  write_raw(tmp.path() / "a.txt", text);
  const fs::path out = tmp.path() / "t.json";
  // --special takes one value, so the input file after it stays an input.
  const Result tr = run_kiln({"tokenize", "train", "--special", "<s>", (tmp.path() / "a.txt").string(), "--vocab-size",
                              "270", "--min-frequency", "2", "--output", out.string()});
  ASSERT_EQ(tr.exit_code, 0) << tr.err;
  EXPECT_NE(tr.out.find("read 1 texts"), std::string::npos) << tr.out;
  // 270 = 1 special + 256 bytes + 13 merges.
  EXPECT_NE(tr.out.find("vocabulary of 270 tokens (13 merges, 1 special)"), std::string::npos) << tr.out;
  const Result enc = run_kiln({"tokenize", "encode", "--tokenizer", out.string()}, {}, " lowest");
  EXPECT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_EQ(lines_of(enc.out).size(), 1U);
}

// ---- help and errors ------------------------------------------------------------------

/// The help entry of option `name` (up to the next option), or "" if absent.
std::string help_entry(const std::string& help, const std::string& name) {
  const std::size_t at = help.find("  " + name + " ");
  if (at == std::string::npos) return "";
  const std::size_t next = help.find("\n  -", at + 1);
  return help.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

TEST(Tokenize, HelpShowsDefaults) {
  const Result enc = run_kiln({"tokenize", "encode", "--help"}, {"KILN_NUM_THREADS=3"});
  EXPECT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_NE(help_entry(enc.out, "--tokenizer").find("[default: gpt2]"), std::string::npos) << enc.out;
  EXPECT_NE(help_entry(enc.out, "--threads").find("[default: 3]"), std::string::npos) << enc.out;
  EXPECT_NE(help_entry(enc.out, "--vocab").find("[default: built in]"), std::string::npos) << enc.out;
  for (const char* opt : {"--merges", "--allow-special", "--json", "--lines"}) {
    EXPECT_NE(help_entry(enc.out, opt), "") << opt << "\n" << enc.out;
  }
  const Result tr = run_kiln({"tokenize", "train", "--help"});
  EXPECT_EQ(tr.exit_code, 0) << tr.err;
  for (const auto& [opt, d] : std::vector<std::pair<std::string, std::string>>{
           {"--vocab-size", "30000"}, {"--min-frequency", "0"}, {"--special", "none"}, {"-o,--output", "tokenizer.json"}}) {
    EXPECT_NE(help_entry(tr.out, opt).find("[default: " + d + "]"), std::string::npos) << opt << "\n" << tr.out;
  }
  const Result top = run_kiln({"tokenize", "--help"});
  EXPECT_EQ(top.exit_code, 0) << top.err;
  for (const char* sub : {"encode", "decode", "count", "train"}) EXPECT_NE(top.out.find(sub), std::string::npos);
}

TEST(Tokenize, BuiltInGpt2VocabularyNeedsNoFiles) {
  // No --vocab/--merges (and not even --tokenizer): the vocabulary compiled
  // into kiln, giving the ids of GPT-2's released files.
  const std::string text = "Hello world, it's kiln.\nCaf\xc3\xa9 <|endoftext|>";
  const Result builtin = run_kiln({"tokenize", "encode"}, {}, text);
  ASSERT_EQ(builtin.exit_code, 0) << builtin.err;
  const Result files = run_kiln(cat({"tokenize", "encode"}, gpt2_args()), {}, text);
  ASSERT_EQ(files.exit_code, 0) << files.err;
  EXPECT_EQ(builtin.out, files.out);
  EXPECT_NE(builtin.out.find("15496 995"), std::string::npos) << builtin.out;  // "Hello world"
}

TEST(Tokenize, ErrorsNameTheProblem) {
  const TempDir tmp;
  const std::string missing = (tmp.path() / "missing.txt").string();
  expect_clean_error(run_kiln(cat({"tokenize", "encode", missing}, gpt2_args())), missing + ": no such file");
  expect_clean_error(run_kiln(cat({"tokenize", "count", tmp.path().string()}, gpt2_args())),
                     tmp.path().string() + ": is a directory");
  expect_clean_error(run_kiln({"tokenize", "encode", "--tokenizer", "gpt2", "--vocab", fixture("text/encoder.json")}, {}, "x"),
                     "--vocab and --merges go together");
  expect_clean_error(run_kiln({"tokenize", "encode", "--tokenizer", missing}, {}, "x"), missing);
  expect_clean_error(run_kiln({"tokenize", "encode", "--tokenizer", "gpt2", "--vocab", missing, "--merges",
                               fixture("text/vocab.bpe")},
                              {}, "x"),
                     missing);
  write_raw(tmp.path() / "bad.json", "{not json");
  expect_clean_error(run_kiln({"tokenize", "encode", "--tokenizer", (tmp.path() / "bad.json").string()}, {}, "x"),
                     "bad.json");
  expect_clean_error(run_kiln(cat({"tokenize", "decode"}, gpt2_args()), {}, "15496 995\n12 abc\n"),
                     "<stdin>:2: 'abc' is not a token id");
  expect_clean_error(run_kiln(cat({"tokenize", "decode"}, gpt2_args()), {}, "50257\n"),
                     "<stdin>:1: token id 50257 is outside the vocabulary (ids 0..50256)");
  expect_clean_error(run_kiln({"tokenize", "train", missing}), missing);
  expect_clean_error(run_kiln({"tokenize", "train", missing, "--fortunes"}), missing);
  expect_clean_error(run_kiln({"tokenize", "train"}), "inputs");
  expect_clean_error(run_kiln({"tokenize"}), "subcommand");
  expect_clean_error(run_kiln(cat({"tokenize", "encode", "--threads", "0"}, gpt2_args())), "--threads");
}

}  // namespace
