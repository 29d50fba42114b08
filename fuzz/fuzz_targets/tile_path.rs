//! C2SP tlog-tiles paths from any text: a path that parses names a tile whose path is written back
//! exactly as given (one spelling per tile), within the format's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roadside_server::tlog::{parse_tile_path, tile_path, TilePath};

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Some(parsed) = parse_tile_path(path) else {
        return;
    };
    match parsed {
        TilePath::Hashes(key, width) => {
            assert!(key.0 <= 63, "level beyond the format's 63");
            assert!((1..=256).contains(&width), "width {width} out of range");
            assert_eq!(
                tile_path(key, width),
                path,
                "hash tile path spelt another way"
            );
        }
        TilePath::Entries(index, width) => {
            assert!((1..=256).contains(&width), "width {width} out of range");
            // An entry bundle's path is a level-0 hash tile's path with `entries` as the level.
            let hashes = tile_path((0, index), width);
            let written = hashes.replacen("tile/0/", "tile/entries/", 1);
            assert_eq!(written, path, "entry bundle path spelt another way");
        }
    }
});
