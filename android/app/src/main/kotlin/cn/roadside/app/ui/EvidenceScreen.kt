package cn.roadside.app.ui

import android.net.Uri
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.core.content.FileProvider
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import cn.roadside.app.AppViewModel
import cn.roadside.app.RoadsideApplication
import cn.roadside.app.Screens
import cn.roadside.shell.CaptureStatus
import cn.roadside.shell.Drafts
import java.io.File
import java.time.OffsetDateTime
import java.time.ZoneId
import uniffi.roadside_core.EvidenceKind

/**
 * Evidence capture: the camera records into the app's own files; each file is hashed by the core
 * (progress shown) and declared in a signed ledger entry at once, before any upload.
 */
@Composable
fun EvidenceScreen(screens: Screens, model: AppViewModel) {
    val form by screens.form.state.collectAsStateWithLifecycle()
    val case = form.case
    if (case == null) {
        Text("请先在「笔录」页保存笔录（立案），再采集证据。", Modifier.padding(16.dp))
        return
    }
    val queue = remember(case.id) { model.evidenceQueueFor(case.id, screens.session) }
    val items by queue.items.collectAsStateWithLifecycle()
    val context = LocalContext.current
    val app = context.applicationContext as RoadsideApplication
    var pending by remember { mutableStateOf<Pair<File, OffsetDateTime>?>(null) }

    val capture = rememberLauncherForActivityResult(ActivityResultContracts.CaptureVideo()) { ok ->
        val (file, started) = pending ?: return@rememberLauncherForActivityResult
        pending = null
        if (ok && file.length() > 0) {
            val meta = Drafts.evidenceMeta(
                startedAt = started.withNano(0).toString(),
                endedAt = OffsetDateTime.now(ZoneId.of("Asia/Shanghai")).withNano(0).toString(),
                important = true,
            )
            queue.enqueue(file.path, EvidenceKind.VIDEO, meta)
        } else {
            file.delete()
        }
    }

    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text("证据采集", style = MaterialTheme.typography.headlineSmall)
        Button(onClick = {
            val file = File(app.evidenceDir, "clip-${System.currentTimeMillis()}.mp4")
            val uri: Uri = FileProvider.getUriForFile(context, "${context.packageName}.evidence", file)
            pending = file to OffsetDateTime.now(ZoneId.of("Asia/Shanghai"))
            capture.launch(uri)
        }) { Text("录像取证") }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp)) {
            items(items, key = { it.id }) { item ->
                Column(Modifier.fillMaxWidth()) {
                    Text(File(item.path).name, style = MaterialTheme.typography.titleSmall)
                    when (item.status) {
                        CaptureStatus.QUEUED -> Text("等待计算哈希")
                        CaptureStatus.HASHING -> LinearProgressIndicator(progress = { item.fraction }, modifier = Modifier.fillMaxWidth())
                        CaptureStatus.DECLARED -> Text("已登记 SHA-256 ${item.info?.sha256?.take(16)}…（${item.info?.size} 字节）")
                        CaptureStatus.FAILED -> Text("${item.error?.message}（${item.error?.code}）", color = MaterialTheme.colorScheme.error)
                        CaptureStatus.CANCELLED -> Text("已取消")
                    }
                    if (item.status == CaptureStatus.QUEUED || item.status == CaptureStatus.HASHING) {
                        Row { TextButton(onClick = { queue.cancel(item.id) }) { Text("取消") } }
                    }
                }
            }
        }
    }
}
