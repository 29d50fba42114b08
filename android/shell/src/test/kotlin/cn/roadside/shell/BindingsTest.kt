package cn.roadside.shell

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import uniffi.roadside_core.demoRecord
import uniffi.roadside_core.recordFromJson
import uniffi.roadside_core.recordToJson

/**
 * The generated bindings as patched by uniffi-bindgen (src/main.rs): strings are decoded from one
 * heap copy of each returned buffer. Text of every width survives the round trip Kotlin → Rust →
 * Kotlin unchanged: empty, ASCII, Chinese (3 bytes per character in UTF-8), a 4-byte emoji and
 * a long note, in records lifted both as a top-level string and as record fields.
 */
class BindingsTest {
    @Test
    fun `text of every width crosses the FFI unchanged`() {
        val samples = listOf(
            "",
            "plain ASCII",
            "当事人驾驶青A12345号货车超限运输",
            "mixed 混合 🚛 text with a 4-byte emoji 𠀀",
            "长".repeat(20_000),
        )
        for (text in samples) {
            val record = demoRecord(45u).copy(recorder = "记录人", remarks = text)
            val json = recordToJson(record)
            val back = recordFromJson(json)
            assertEquals(text, back.remarks, "remarks of ${text.length} chars")
            assertEquals(record, back)
            // The JSON (a top-level String return) carries the text too.
            assertEquals(json, recordToJson(back))
        }
    }
}
