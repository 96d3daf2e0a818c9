#pragma once
// Text from untrusted files made safe to print. A tensor name, metadata key or
// token read from a file can hold bytes a terminal acts on: ESC starts
// sequences that set the window title, move the cursor or rewrite what is on
// screen (and some terminals treat C1 controls the same way); bidirectional
// formatting characters reorder what is shown, so a printed name can read
// differently from its bytes. Every string kiln prints from a file goes
// through escape_for_terminal.
#include <string>
#include <string_view>

namespace kiln::text {

struct TerminalEscapeOptions {
  /// Escape '\' as "\\", so an escaped text maps back to exactly one string.
  /// Off for messages whose own backslashes are text (a JSON parser's error).
  bool backslash = true;
  /// Also escape this character with a backslash ('"' inside a double-quoted
  /// string); '\0' for none.
  char quote = '\0';
};

/// `s` with every character a terminal could act on, and every byte that is
/// not part of well-formed UTF-8, replaced by a visible escape:
///   - tab, newline and carriage return as \t, \n, \r; other C0 controls and
///     DEL as \xHH (ESC is \x1b);
///   - C1 controls U+0080-U+009F as \u{HH} (U+009B, a one-character CSI, is \u{9b});
///   - the bidirectional formatting characters (U+061C, U+200E, U+200F,
///     U+202A-U+202E, U+2066-U+2069) and the line and paragraph separators
///     U+2028, U+2029 as \u{HHHH};
///   - each byte of ill-formed UTF-8 as \xHH (a lone 0xFF is \xff, the C1
///     byte 0x9B on its own is \x9b);
///   - backslash as \\ (see TerminalEscapeOptions).
/// Every other character, ASCII or not, is kept as it is.
std::string escape_for_terminal(std::string_view s, const TerminalEscapeOptions& options = {});

/// `s` escaped, in double quotes, with '"' inside escaped as \".
std::string quote_for_terminal(std::string_view s);

}  // namespace kiln::text
