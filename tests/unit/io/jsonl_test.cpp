#include "kiln/io/jsonl.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "io_test_util.h"

namespace kiln {
namespace {

using io::JsonlOptions;
using io::JsonlReader;
using io::read_jsonl;
using io::TextRecord;
using test::expect_error;
using test::TempDir;
using test::write_bytes;

TEST(Jsonl, ReadsTextAndLabelFields) {
  TempDir dir;
  write_bytes(dir / "a.jsonl",
              "{\"text\": \"great film\", \"label\": \"pos\", \"id\": 1}\n"
              "{\"label\": 3, \"text\": \"caf\\u00e9 \xe2\x9c\x93\"}\r\n"
              "\n   \r\n"
              "{\"text\": \"\", \"label\": 0.5}\n"
              "{\"text\": \"t\", \"label\": true}");
  const auto rs = read_jsonl(dir / "a.jsonl");
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].text, "great film");
  EXPECT_EQ(rs[0].label, "pos");
  EXPECT_EQ(rs[0].line, 1u);
  EXPECT_EQ(rs[1].text, "caf\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(rs[1].label, "3");
  EXPECT_EQ(rs[2].text, "");
  EXPECT_EQ(rs[2].label, "0.5");
  EXPECT_EQ(rs[2].line, 5u);  // blank lines are skipped but counted
  EXPECT_EQ(rs[3].label, "true");
  EXPECT_EQ(rs[3].line, 6u);
}

TEST(Jsonl, FieldsChosenByNameAndOptionalLabel) {
  TempDir dir;
  write_bytes(dir / "b.jsonl", "\xef\xbb\xbf{\"body\": \"x\", \"stars\": 5}\n");
  const auto rs = read_jsonl(dir / "b.jsonl", {.text_field = "body", .label_field = "stars"});
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].text, "x");
  EXPECT_EQ(rs[0].label, "5");
  const auto nl = read_jsonl(dir / "b.jsonl", {.text_field = "body", .label_field = ""});
  EXPECT_EQ(nl[0].label, "");
}

TEST(Jsonl, StreamsLongLinesAcrossChunksAndGzip) {
  TempDir dir;
  const std::string long_text(300000, 'z');
  std::string s = "{\"text\": \"" + long_text + "\", \"label\": \"L\"}\n";
  for (int i = 0; i < 20000; ++i) s += "{\"text\": \"r" + std::to_string(i) + "\", \"label\": " + std::to_string(i) + "}\n";
  gzFile f = gzopen((dir / "c.jsonl.gz").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, s.data(), static_cast<unsigned>(s.size())), static_cast<int>(s.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
  write_bytes(dir / "c.jsonl", s);
  for (const char* name : {"c.jsonl", "c.jsonl.gz"}) {
    JsonlReader r(dir / name);
    TextRecord t;
    ASSERT_TRUE(r.next(t));
    EXPECT_EQ(t.text, long_text);
    std::size_t n = 0;
    while (r.next(t)) {
      EXPECT_EQ(t.text, "r" + std::to_string(n));
      EXPECT_EQ(t.label, std::to_string(n));
      EXPECT_EQ(t.line, n + 2);
      ++n;
    }
    EXPECT_EQ(n, 20000u) << name;
  }
}

TEST(Jsonl, ErrorsNameFileAndLine) {
  TempDir dir;
  expect_error([&] { JsonlReader r(dir / "none.jsonl"); }, {"JSONL file", "none.jsonl", "no such file"});
  const auto bad = [&](const std::string& name, const std::string& second_line,
                       std::initializer_list<std::string> parts, JsonlOptions o = {}) {
    write_bytes(dir / name, "{\"text\": \"ok\", \"label\": 1}\n" + second_line + "\n");
    try {
      read_jsonl(dir / name, o);
      ADD_FAILURE() << name << ": expected a kiln::Error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg << " lacks " << p;
      EXPECT_NE(msg.find(name + "': line 2: "), std::string::npos) << msg;
    }
  };
  bad("syntax.jsonl", "{\"text\": \"a\",}", {"not valid JSON", "parse error"});
  bad("two.jsonl", "{\"text\": \"a\"} {\"text\": \"b\"}", {"not valid JSON"});
  bad("array.jsonl", "[1, 2]", {"expected a JSON object, got a JSON array"});
  bad("notext.jsonl", "{\"label\": 1}", {"no \"text\" field"});
  bad("numtext.jsonl", "{\"text\": 5, \"label\": 1}", {"field \"text\" must be a string, got a JSON number"});
  bad("nolabel.jsonl", "{\"text\": \"a\"}", {"no \"label\" field"});
  bad("nulllabel.jsonl", "{\"text\": \"a\", \"label\": null}", {"\"label\" must be a string, number or bool", "null"});
  bad("utf8.jsonl", "{\"text\": \"\xff\", \"label\": 1}", {"not valid JSON"});
  bad("long.jsonl", "{\"text\": \"" + std::string(200, 'x') + "\", \"label\": 1}", {"longer than 100 bytes"},
      {.max_line_bytes = 100});
}

}  // namespace
}  // namespace kiln
