// SpaceSaving is a template (heavy_hitters.h); this file instantiates the address variant once so
// that its code is compiled (and warned about) with the library.
#include "analyzer/stats/heavy_hitters.h"

namespace ta::analyzer::stats {

template class SpaceSaving<std::array<uint8_t, 16>, ByteArrayHash>;

}  // namespace ta::analyzer::stats
