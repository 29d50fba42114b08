// The Roadside Android app: Jetpack Compose screens over the shell layer (:shell), the native core
// (libroadside_core.so built by cargo-ndk into src/main/jniLibs), a Keystore-backed secret provider and
// WorkManager background sync. Build steps: android/README.md.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

android {
    namespace = "cn.roadside.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "cn.roadside.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            // The ABIs scripts in android/README.md build with cargo-ndk.
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
    }

    sourceSets {
        getByName("main") {
            java.srcDirs("src/main/kotlin")
            // libroadside_core.so per ABI, written by the cargoNdk task below.
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    packaging {
        jniLibs {
            // Keep the .so files uncompressed and page-aligned (faster load, smaller updates).
            useLegacyPackaging = false
        }
    }
}

kotlin {
    jvmToolchain(17)
}

// The native core for every ABI in abiFilters, built by scripts/build-android.sh: cargo-ndk with the
// core's mobile configuration (feature `mobile`: SQLCipher on OpenSSL built from source and linked
// statically, as the phone has no system OpenSSL; profile release-mobile; 16 KB page alignment), the
// same settings the ARM64 test run builds and checks, then the packaging checks on each library.
// Cargo rebuilds only what changed, so the task runs on every build.
val cargoNdk = tasks.register<Exec>("cargoNdk") {
    group = "build"
    description = "Builds libroadside_core.so per ABI into src/main/jniLibs (scripts/build-android.sh)"
    workingDir = rootDir.parentFile
    commandLine(listOf("scripts/build-android.sh") + android.defaultConfig.ndk.abiFilters.sorted())
}
tasks.named("preBuild") {
    dependsOn(cargoNdk)
}

dependencies {
    implementation(project(":shell"))

    val composeBom = platform("androidx.compose:compose-bom:2025.05.00")
    implementation(composeBom)
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.material3:material3")
    implementation("androidx.compose.ui:ui-tooling-preview")
    debugImplementation("androidx.compose.ui:ui-tooling")

    implementation("androidx.activity:activity-compose:1.10.1")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.9.0")
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.9.0")
    implementation("androidx.work:work-runtime-ktx:2.10.1")
}
