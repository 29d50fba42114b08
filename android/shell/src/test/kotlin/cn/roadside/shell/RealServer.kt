package cn.roadside.shell

import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.time.Duration

/**
 * A real `roadside-server` process on a loopback port with its own data directory (SQLite, local
 * media), started from the workspace build (`cargo build -p roadside-server`; scripts/test-all.sh
 * builds it before the Maven step). `-Droadside.server.bin=` points at another binary.
 */
class RealServer(private val dataDir: Path, val port: Int = freePort()) : AutoCloseable {
    val url = "http://127.0.0.1:$port"
    private var process: Process? = null
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    fun start(): RealServer {
        val bin = binary()
        val log = dataDir.resolveSibling("${dataDir.fileName}-server.log")
        process = ProcessBuilder(bin.toString())
            .apply {
                environment()["ROADSIDE_DATA_DIR"] = dataDir.toString()
                environment()["ROADSIDE_LISTEN"] = "127.0.0.1:$port"
                environment().remove("ROADSIDE_DATABASE_URL")
            }
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start()
        val deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos()
        while (System.nanoTime() < deadline) {
            check(process!!.isAlive) { "roadside-server exited: ${Files.readString(log)}" }
            val up = runCatching {
                http.send(HttpRequest.newBuilder(URI("$url/healthz")).timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200
            }.getOrDefault(false)
            if (up) return this
            Thread.sleep(100)
        }
        error("roadside-server did not answer /healthz within 60 s: ${Files.readString(log)}")
    }

    /** A one-time enrolment code for an officer, issued by the admin account the server seeded. */
    fun enrolmentCode(certificateNo: String): String {
        val password = Files.readString(dataDir.resolve("admin-password.txt")).trim()
        val token = field(post("/api/v1/sessions", """{"login":"admin","password":"$password"}""", null, 200), "token")
        return field(post("/api/v1/enrolment-codes", """{"certificate_no":"$certificateNo"}""", token, 201), "code")
    }

    fun stop() {
        process?.let {
            it.destroy()
            if (!it.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) it.destroyForcibly().waitFor()
        }
        process = null
    }

    override fun close() = stop()

    private fun post(path: String, json: String, token: String?, expect: Int): String {
        val req = HttpRequest.newBuilder(URI("$url$path"))
            .header("content-type", "application/json")
            .apply { if (token != null) header("authorization", "Bearer $token") }
            .POST(HttpRequest.BodyPublishers.ofString(json))
            .build()
        val resp = http.send(req, HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() == expect) { "POST $path → ${resp.statusCode()}: ${resp.body()}" }
        return resp.body()
    }

    private fun field(json: String, name: String): String =
        Regex("\"$name\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1) ?: error("no $name in $json")

    companion object {
        fun freePort(): Int = ServerSocket(0).use { it.localPort }

        fun binary(): Path {
            val configured = System.getProperty("roadside.server.bin")?.takeIf { it.isNotBlank() }
            val bin = if (configured != null) Paths.get(configured) else Paths.get("..", "..", "target", "debug", "roadside-server").toAbsolutePath().normalize()
            check(Files.isExecutable(bin)) { "$bin not found: build the server first with `cargo build -p roadside-server`" }
            return bin
        }
    }
}
