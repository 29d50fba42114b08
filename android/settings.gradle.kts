// Roadside Android build: the app and the shell layer (the same sources android/shell/pom.xml builds
// and tests on a desktop JVM). See android/README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "roadside-android"
include(":shell")
include(":app")
