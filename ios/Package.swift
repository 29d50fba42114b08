// swift-tools-version:5.9
// Roadside core for iOS: the generated UniFFI Swift bindings (Sources/RoadsideCore, committed and
// checked fresh by `cargo test -p uniffi-bindgen --test generate`) over the static core library in
// build/roadside_coreFFI.xcframework (built by scripts/build-xcframework.sh). The SwiftUI app
// sources in App/ depend on this package; see README.md.
import PackageDescription

let package = Package(
    name: "RoadsideCore",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "RoadsideCore", targets: ["RoadsideCore"]),
    ],
    targets: [
        // The Rust core as a static library per Apple target, with roadside_coreFFI.h and its module map.
        .binaryTarget(name: "roadside_coreFFI", path: "build/roadside_coreFFI.xcframework"),
        .target(
            name: "RoadsideCore",
            dependencies: ["roadside_coreFFI"],
            path: "Sources/RoadsideCore",
            // The core's SQLCipher runs on CommonCrypto (in libSystem) and takes its random bytes from
            // Security's SecRandomCopyBytes; the static library leaves those frameworks to the app.
            linkerSettings: [
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
    ]
)
