package cn.roadside.app.ui

import android.content.Context
import android.graphics.Bitmap
import android.graphics.pdf.PdfRenderer
import android.os.Bundle
import android.os.CancellationSignal
import android.os.ParcelFileDescriptor
import android.print.PageRange
import android.print.PrintAttributes
import android.print.PrintDocumentAdapter
import android.print.PrintDocumentInfo
import android.print.PrintManager
import androidx.compose.foundation.Canvas
import androidx.compose.foundation.Image
import androidx.compose.foundation.border
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.produceState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.input.pointer.pointerInput
import androidx.compose.ui.layout.onSizeChanged
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import cn.roadside.app.AppViewModel
import cn.roadside.app.Screens
import cn.roadside.shell.CaseCompletionModel
import cn.roadside.shell.SignatureCapture
import java.io.File
import java.io.FileOutputStream
import java.time.OffsetDateTime
import java.time.ZoneId
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import uniffi.roadside_core.DocType
import uniffi.roadside_core.DocumentRenderer
import uniffi.roadside_core.IssuedDocument
import uniffi.roadside_core.NextStep
import uniffi.roadside_core.PlatformFonts

/** The 结案 tab: the case saved on the 笔录 tab, taken to its end. */
@Composable
fun CaseCompletionTab(screens: Screens, model: AppViewModel) {
    val form by screens.form.state.collectAsStateWithLifecycle()
    val case = form.case
    if (case == null) {
        Text("请先在「笔录」页保存笔录（立案）并定稿，再作出决定。", Modifier.padding(16.dp))
        return
    }
    val completion = remember(case.id) { model.completionFor(case.id, screens.session) }
    LaunchedEffect(case.id) { completion.refresh() }
    val renderer by produceState<DocumentRenderer?>(null) {
        value = runCatching { withContext(Dispatchers.IO) { DocumentRenderer(SystemCjkFonts()) } }.getOrNull()
    }
    val r = renderer
    if (r == null) {
        Text("正在加载系统中文字体…", Modifier.padding(16.dp))
        return
    }
    CaseCompletionScreen(completion, r)
}

/** The system's CJK font for the core's renderer: Noto Sans CJK, the SC face picked by the core. */
class SystemCjkFonts : PlatformFonts {
    override fun cjkFont(): ByteArray = File("/system/fonts/NotoSansCJK-Regular.ttc").readBytes()
    override fun cjkFontIndex(): UInt = UInt.MAX_VALUE
}

/**
 * The end of a case: what comes next (decide, serve, pay, close), the party's signature on the
 * pad, the document rendered by the core — its hash in the ledger before the preview shows it —
 * and printing through the system print service (the exact bytes that were hashed).
 */
@Composable
fun CaseCompletionScreen(model: CaseCompletionModel, renderer: DocumentRenderer) {
    val state by model.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    var padSize by remember { mutableIntStateOf(0) }
    val pad = remember(padSize) { SignatureCapture(padSize.coerceAtLeast(1).toFloat(), 240f) }
    // What the pad shows while the signer writes: one polyline per stroke.
    val lines = remember(pad) { mutableStateListOf<List<Offset>>() }

    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text("结案流程", style = MaterialTheme.typography.headlineSmall)
        val p = state.progress
        Text(
            when (p?.next) {
                NextStep.FINALIZE -> "下一步：完成并定稿笔录"
                NextStep.DECIDE -> "下一步：作出决定（或先送达违法行为通知书）"
                NextStep.DELIVER -> "下一步：送达 ${p.undelivered.joinToString("、")}"
                NextStep.PAY -> "下一步：登记缴款（应缴 ${p.totalYuan} 元，已缴 ${p.paidYuan} 元）"
                NextStep.RELEASE_MEASURE -> "下一步：解除强制措施 ${p.openMeasures.joinToString("、")}"
                NextStep.CLOSE -> "下一步：结案"
                NextStep.DONE -> "本案已办结"
                null -> "正在读取…"
            },
        )
        state.error?.let { e ->
            Text("${e.message}（${e.code}）", color = MaterialTheme.colorScheme.error)
            e.issues.forEach { Text("· ${it.message}", color = MaterialTheme.colorScheme.error) }
        }

        Text("当事人签名", style = MaterialTheme.typography.titleMedium)
        Canvas(
            Modifier
                .fillMaxWidth()
                .height(120.dp)
                .border(1.dp, Color.Gray)
                .onSizeChanged { padSize = it.width }
                .pointerInput(pad) {
                    awaitPointerEventScope {
                        while (true) {
                            val event = awaitPointerEvent()
                            val c = event.changes.firstOrNull() ?: continue
                            val y = c.position.y * 240f / size.height
                            when {
                                c.pressed && !c.previousPressed -> {
                                    pad.down(c.position.x, y, c.uptimeMillis, c.pressure)
                                    lines.add(listOf(c.position))
                                }
                                c.pressed -> {
                                    pad.move(c.position.x, y, c.uptimeMillis, c.pressure)
                                    if (lines.isNotEmpty()) lines[lines.size - 1] = lines.last() + c.position
                                }
                                else -> pad.up()
                            }
                            c.consume()
                        }
                    }
                },
        ) {
            // The strokes so far; the core draws the captured strokes themselves into the document.
            for (line in lines) {
                for (i in 1 until line.size) drawLine(Color.Black, line[i - 1], line[i], strokeWidth = 4f)
            }
        }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = { pad.clear(); lines.clear() }) { Text("重签") }
            Button(
                enabled = !state.busy && state.progress?.decisionNumber != null,
                onClick = {
                    scope.launch {
                        val now = OffsetDateTime.now(ZoneId.of("Asia/Shanghai")).withNano(0).toString()
                        val doc = if (state.progress?.penalised == true) DocType.SUMMARY_DECISION else DocType.NO_PENALTY_DECISION
                        model.issue(renderer, doc, listOf(pad.toInput("当事人", "", now)))
                    }
                },
            ) { Text("生成决定书") }
        }

        state.document?.let { doc ->
            Text("${doc.number}  SHA-256 ${doc.sha256.take(16)}…", style = MaterialTheme.typography.bodySmall)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = { print(context, doc) }) { Text("打印") }
            }
            PdfPreview(context, doc)
        }
    }
}

/** Every page of the issued document, rendered by the platform's [PdfRenderer]. */
@Composable
private fun PdfPreview(context: Context, doc: IssuedDocument) {
    val pages = remember(doc.sha256) { renderPages(context, doc) }
    LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp)) {
        items(pages) { bmp -> Image(bmp.asImageBitmap(), contentDescription = doc.number, modifier = Modifier.fillMaxWidth()) }
    }
}

private fun pdfFile(context: Context, doc: IssuedDocument): File {
    val f = File(context.cacheDir, "${doc.sha256}.pdf")
    if (!f.exists() || f.length() != doc.pdf.size.toLong()) f.writeBytes(doc.pdf)
    return f
}

private fun renderPages(context: Context, doc: IssuedDocument): List<Bitmap> {
    val fd = ParcelFileDescriptor.open(pdfFile(context, doc), ParcelFileDescriptor.MODE_READ_ONLY)
    return PdfRenderer(fd).use { r ->
        (0 until r.pageCount).map { i ->
            r.openPage(i).use { page ->
                val scale = 2
                val bmp = Bitmap.createBitmap(page.width * scale, page.height * scale, Bitmap.Config.ARGB_8888)
                bmp.eraseColor(android.graphics.Color.WHITE)
                page.render(bmp, null, null, PdfRenderer.Page.RENDER_MODE_FOR_DISPLAY)
                bmp
            }
        }
    }
}

/** Prints the exact bytes whose hash the ledger holds (no re-rendering by the print service). */
private fun print(context: Context, doc: IssuedDocument) {
    val manager = context.getSystemService(Context.PRINT_SERVICE) as PrintManager
    val adapter = object : PrintDocumentAdapter() {
        override fun onLayout(
            oldAttributes: PrintAttributes?,
            newAttributes: PrintAttributes,
            cancellationSignal: CancellationSignal,
            callback: LayoutResultCallback,
            extras: Bundle?,
        ) {
            if (cancellationSignal.isCanceled) {
                callback.onLayoutCancelled()
                return
            }
            val info = PrintDocumentInfo.Builder("${doc.number}.pdf")
                .setContentType(PrintDocumentInfo.CONTENT_TYPE_DOCUMENT)
                .build()
            callback.onLayoutFinished(info, oldAttributes != newAttributes)
        }

        override fun onWrite(
            pages: Array<out PageRange>,
            destination: ParcelFileDescriptor,
            cancellationSignal: CancellationSignal,
            callback: WriteResultCallback,
        ) {
            try {
                FileOutputStream(destination.fileDescriptor).use { it.write(doc.pdf) }
                callback.onWriteFinished(arrayOf(PageRange.ALL_PAGES))
            } catch (e: Exception) {
                callback.onWriteFailed(e.message)
            }
        }
    }
    manager.print(doc.number, adapter, PrintAttributes.Builder().setMediaSize(PrintAttributes.MediaSize.ISO_A4).build())
}
