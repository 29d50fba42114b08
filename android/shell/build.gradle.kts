// The shell layer as an Android library: the same sources (generated UniFFI bindings + state holders)
// that android/shell/pom.xml compiles and tests on a desktop JVM against the real native library.
// Its JVM tests run with Maven (`mvn -f android/shell/pom.xml test`), not here.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "cn.roadside.shell"
    compileSdk = 35

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            java.srcDirs("src/main/kotlin")
        }
        getByName("test") {
            java.setSrcDirs(emptyList<String>())
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The Android flavour of JNA (ships libjnidispatch.so for every ABI).
    api("net.java.dev.jna:jna:5.19.1@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.11.0")
}
