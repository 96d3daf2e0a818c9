#include "kiln/io/csv.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "io_test_util.h"

namespace kiln {
namespace {

using io::CsvOptions;
using io::CsvReader;
using io::read_csv;
using io::TextRecord;
using test::expect_error;
using test::TempDir;
using test::write_bytes;

std::vector<std::vector<std::string>> rows(const std::filesystem::path& p, CsvOptions o = {}) {
  CsvReader r(p, std::move(o));
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> f;
  while (r.next_row(f)) out.push_back(f);
  return out;
}

using Rows = std::vector<std::vector<std::string>>;

TEST(Csv, ReadsTextAndLabelByColumnName) {
  TempDir dir;
  write_bytes(dir / "a.csv", "id,label,text\n1,pos,great film\n2,neg,dull\n");
  const auto rs = read_csv(dir / "a.csv");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].text, "great film");
  EXPECT_EQ(rs[0].label, "pos");
  EXPECT_EQ(rs[0].line, 2u);
  EXPECT_EQ(rs[1].text, "dull");
  EXPECT_EQ(rs[1].label, "neg");
  EXPECT_EQ(rs[1].line, 3u);
  CsvReader r(dir / "a.csv", {.text_column = "id", .label_column = ""});
  EXPECT_EQ(r.header(), (std::vector<std::string>{"id", "label", "text"}));
  EXPECT_EQ(r.column("text"), 2u);
  TextRecord t;
  ASSERT_TRUE(r.next(t));
  EXPECT_EQ(t.text, "1");
  EXPECT_EQ(t.label, "");
}

TEST(Csv, QuotedFieldsHoldDelimitersQuotesAndLineBreaks) {
  TempDir dir;
  write_bytes(dir / "q.csv",
              "text,label\r\n"
              "\"a, b\",x\r\n"
              "\"say \"\"hi\"\"\",y\r\n"
              "\"two\nlines\",z\r\n"
              "\"crlf\r\ninside\",w\r\n"
              "\"\",\"\"\r\n"
              "5\" screen,v\r\n"
              "last,no newline");
  const auto rs = read_csv(dir / "q.csv");
  ASSERT_EQ(rs.size(), 7u);
  EXPECT_EQ(rs[0].text, "a, b");
  EXPECT_EQ(rs[1].text, "say \"hi\"");
  EXPECT_EQ(rs[2].text, "two\nlines");
  EXPECT_EQ(rs[3].text, "crlf\r\ninside");
  EXPECT_EQ(rs[4].text, "");
  EXPECT_EQ(rs[4].label, "");
  EXPECT_EQ(rs[5].text, "5\" screen");  // a quote inside an unquoted field is text
  EXPECT_EQ(rs[6].label, "no newline");
  // Lines count the breaks inside quoted fields.
  const std::vector<std::size_t> lines{2, 3, 4, 6, 8, 9, 10};
  for (std::size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(rs[i].line, lines[i]) << i;
}

TEST(Csv, LineEndingsEmptyLinesEmptyFieldsAndBom) {
  TempDir dir;
  write_bytes(dir / "e.csv", "\xef\xbb\xbf" "a,b,c\r1,,3\n\n\r\n,,\r\n4,5,\n");
  EXPECT_EQ(rows(dir / "e.csv", {.text_column = "a", .label_column = "c"}),
            (Rows{{"1", "", "3"}, {"", "", ""}, {"4", "5", ""}}));
  CsvReader r(dir / "e.csv", {.text_column = "a", .label_column = "c"});
  EXPECT_EQ(r.header()[0], "a");  // the byte order mark is not part of the name
}

TEST(Csv, OtherDelimiters) {
  TempDir dir;
  write_bytes(dir / "t.tsv", "text\tlabel\n\"x\ty\"\t1\n");
  const auto rs = read_csv(dir / "t.tsv", {.delimiter = '\t'});
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].text, "x\ty");
  EXPECT_EQ(rs[0].label, "1");
}

TEST(Csv, StreamsLargeFilesAndFieldsAcrossChunks) {
  TempDir dir;
  std::string big = "text,label\n";
  // A quoted field much larger than the read chunk, with quotes and breaks inside.
  std::string field;
  for (int i = 0; i < 20000; ++i) field += "ab\"\"c,\n";
  big += "\"" + field + "\",big\n";
  for (int i = 0; i < 50000; ++i) big += "row " + std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  write_bytes(dir / "big.csv", big);
  CsvReader r(dir / "big.csv");
  TextRecord t;
  ASSERT_TRUE(r.next(t));
  std::string want;
  for (int i = 0; i < 20000; ++i) want += "ab\"c,\n";
  EXPECT_EQ(t.text, want);
  EXPECT_EQ(t.label, "big");
  std::size_t n = 0;
  while (r.next(t)) {
    EXPECT_EQ(t.text, "row " + std::to_string(n));
    EXPECT_EQ(t.line, 20003 + n);
    ++n;
  }
  EXPECT_EQ(n, 50000u);
}

TEST(Csv, ReadsGzip) {
  TempDir dir;
  const std::string text = "text,label\nhello,1\n\"multi\nline\",2\n";
  gzFile f = gzopen((dir / "a.csv.gz").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
  const auto rs = read_csv(dir / "a.csv.gz");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].text, "multi\nline");
}

TEST(Csv, ErrorsNameFileAndLine) {
  TempDir dir;
  expect_error([&] { CsvReader r(dir / "none.csv"); }, {"CSV file", "none.csv", "no such file"});
  write_bytes(dir / "empty.csv", "\n\n");
  expect_error([&] { CsvReader r(dir / "empty.csv"); }, {"empty.csv", "line 1", "no header row"});
  write_bytes(dir / "cols.csv", "a,b\n1,2\n");
  expect_error([&] { CsvReader r(dir / "cols.csv"); }, {"cols.csv", "no column 'text'", "'a', 'b'"});
  write_bytes(dir / "dup.csv", "text,text,label\n");
  expect_error([&] { CsvReader r(dir / "dup.csv"); }, {"dup.csv", "column 'text' appears twice"});
  write_bytes(dir / "count.csv", "text,label\n\"a\nb\",1\n1,2,3\n");
  expect_error([&] { read_csv(dir / "count.csv"); }, {"count.csv", "line 4", "3 fields but the header has 2"});
  write_bytes(dir / "open.csv", "text,label\nok,1\n\"never\nclosed,2\n");
  expect_error([&] { read_csv(dir / "open.csv"); }, {"open.csv", "line 3", "quoted field 1 is not closed"});
  write_bytes(dir / "junk.csv", "text,label\n\"a\"b,1\n");
  expect_error([&] { read_csv(dir / "junk.csv"); }, {"junk.csv", "line 2", "unexpected 'b' after the closing quote"});
  write_bytes(dir / "long.csv", "text,label\nshort,1\n\"" + std::string(100, 'x'));
  expect_error([&] { read_csv(dir / "long.csv", {.max_record_bytes = 50}); },
               {"long.csv", "line 3", "longer than 50 bytes"});
  expect_error([&] { CsvReader r(dir / "cols.csv", {.delimiter = '"'}); }, {"cols.csv", "delimiter"});
  write_bytes(dir / "notgz.csv.gz", "text\n");
  expect_error([&] { CsvReader r(dir / "notgz.csv.gz"); }, {"notgz.csv.gz", "not gzip-compressed"});
}

}  // namespace
}  // namespace kiln
