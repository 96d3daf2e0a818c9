#include "kiln/plot/canvas.h"

#include <cstdint>
#include <new>
#include <numbers>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/io/file_util.h"

namespace kiln::plot::detail {
namespace {

// cairo's image surfaces address pixels with 16-bit coordinates internally.
constexpr int kMaxSide = 32767;

// PNG bytes are collected in memory first so the file itself is written by
// io::write_file_atomically: a reader never sees a half-written plot.
cairo_status_t append_png_bytes(void* closure, const unsigned char* data, unsigned int length) {
  auto* out = static_cast<std::vector<std::byte>*>(closure);
  try {
    const auto* bytes = reinterpret_cast<const std::byte*>(data);
    out->insert(out->end(), bytes, bytes + length);
  } catch (const std::bad_alloc&) {
    return CAIRO_STATUS_NO_MEMORY;  // never let an exception cross cairo's C frames
  }
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

Canvas::Canvas(int width, int height, const std::string& function, std::filesystem::path path)
    : width_(width),
      height_(height),
      function_(function),
      path_(std::move(path)),
      context_("plot::" + function_ + " '" + path_.string() + "'") {
  // A wrong output directory is the likeliest mistake: say so before drawing anything.
  const std::filesystem::path dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  const auto dir_status = std::filesystem::status(dir, ec);
  if (dir_status.type() == std::filesystem::file_type::not_found) {
    throw Error(context_ + ": directory '" + dir.string() + "' does not exist");
  }
  if (ec) throw Error(context_ + ": cannot access directory '" + dir.string() + "': " + ec.message());
  if (!std::filesystem::is_directory(dir_status)) throw Error(context_ + ": '" + dir.string() + "' is not a directory");
  if (width < 1 || height < 1 || width > kMaxSide || height > kMaxSide) {
    throw Error(context_ + ": image size " + std::to_string(width) + " x " + std::to_string(height) +
                " pixels is outside 1 .. " + std::to_string(kMaxSide) + " per side");
  }
  surface_.reset(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height));
  // cairo_create on a failed surface still returns a (failed) context, so one check covers both.
  cr_.reset(cairo_create(surface_.get()));
  check("creating the image");
  set_color({0xff, 0xff, 0xff});
  cairo_paint(cr());
}

void Canvas::check(const char* step) const {
  cairo_status_t status = cairo_surface_status(surface_.get());
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_status(cr_.get());
  if (status != CAIRO_STATUS_SUCCESS) {
    throw Error(context_ + ": cairo failed " + step + ": " + cairo_status_to_string(status));
  }
}

void Canvas::set_color(Color c, double alpha) const {
  cairo_set_source_rgba(cr(), c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha);
}

void Canvas::set_font(const TextStyle& style) const {
  cairo_select_font_face(cr(), "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         style.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr(), style.size);
}

TextSize Canvas::text_size(const std::string& text, const TextStyle& style) const {
  set_font(style);
  cairo_font_extents_t font{};
  cairo_font_extents(cr(), &font);
  cairo_text_extents_t ext{};
  cairo_text_extents(cr(), text.c_str(), &ext);
  return {ext.x_advance, font.ascent + font.descent};
}

void Canvas::draw_text(const std::string& text, double x, double y, const TextStyle& style, HAlign h, VAlign v,
                       bool vertical) const {
  if (text.empty()) return;
  set_font(style);
  cairo_font_extents_t font{};
  cairo_font_extents(cr(), &font);
  cairo_text_extents_t ext{};
  cairo_text_extents(cr(), text.c_str(), &ext);
  const double dx = h == HAlign::left ? 0.0 : h == HAlign::center ? -ext.x_advance / 2 : -ext.x_advance;
  const double dy = v == VAlign::top      ? font.ascent
                    : v == VAlign::middle ? (font.ascent - font.descent) / 2
                                          : -font.descent;
  cairo_save(cr());
  cairo_translate(cr(), x, y);
  if (vertical) cairo_rotate(cr(), -std::numbers::pi / 2);
  cairo_move_to(cr(), dx, dy);
  set_color(style.color);
  cairo_show_text(cr(), text.c_str());
  cairo_restore(cr());
}

void Canvas::blit(int x, int y, int w, int h, int scale, std::span<const Color> pixels) const {
  if (x < 0 || y < 0 || x + w * scale > width_ || y + h * scale > height_ ||
      pixels.size() != static_cast<std::size_t>(w) * static_cast<std::size_t>(h)) {
    throw Error(context_ + ": internal error: a " + std::to_string(w) + " x " + std::to_string(h) +
                " block does not fit the image");
  }
  cairo_surface_t* s = surface_.get();
  cairo_surface_flush(s);  // finish cairo's pending drawing before touching the pixels
  unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  for (int r = 0; r < h * scale; ++r) {
    auto* row = reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y + r) * stride) + x;
    const Color* src = pixels.data() + static_cast<std::ptrdiff_t>(r / scale) * w;
    for (int c = 0; c < w * scale; ++c) {
      const Color p = src[c / scale];
      // CAIRO_FORMAT_RGB24: native-endian 32-bit words, red in bits 16..23, top byte unused.
      row[c] = (std::uint32_t{p.r} << 16) | (std::uint32_t{p.g} << 8) | std::uint32_t{p.b};
    }
  }
  cairo_surface_mark_dirty_rectangle(s, x, y, w * scale, h * scale);
}

void Canvas::save_png() const {
  check("drawing");
  cairo_surface_flush(surface_.get());
  std::vector<std::byte> png;
  const cairo_status_t status = cairo_surface_write_to_png_stream(surface_.get(), append_png_bytes, &png);
  if (status != CAIRO_STATUS_SUCCESS) {
    throw Error(context_ + ": cairo failed encoding the PNG: " + cairo_status_to_string(status));
  }
  io::write_file_atomically(path_, {std::span<const std::byte>(png)}, "plot::" + function_);
}

}  // namespace kiln::plot::detail
