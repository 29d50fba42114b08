package cn.roadside.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import cn.roadside.shell.SyncStatusModel

/** Sync status: outbox, refusals with reasons, uploads, progress of a running sync, cancel. */
@Composable
fun SyncScreen(sync: SyncStatusModel) {
    val state by sync.state.collectAsStateWithLifecycle()
    LaunchedEffect(Unit) { sync.refresh() }
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text("同步", style = MaterialTheme.typography.headlineSmall)
        val status = state.status
        if (status?.enrolment == null) {
            Text("本设备尚未登记到执法服务器，请联系管理员获取登记码。")
        } else {
            Text("服务器：${status.enrolment!!.serverUrl}")
            Text("待上传记录 ${status.outboxLen} 条，已获回执 ${status.receipts} 条")
            Text("待上传证据 ${status.pendingUploads.size} 件")
            status.lastSyncAt?.let { Text("上次同步：$it") }
            if (status.clockWarning) Text("设备时间与服务器相差超过 5 分钟，请校准时间", color = MaterialTheme.colorScheme.error)
            status.problems.forEach { Text("第 ${it.entrySeq} 条被拒：${it.message}（${it.code}）", color = MaterialTheme.colorScheme.error) }
            status.logAlarms.forEach { Text("日志告警：${it.message}（${it.code}）", color = MaterialTheme.colorScheme.error) }
        }
        if (state.running) {
            LinearProgressIndicator(progress = { state.fraction }, modifier = Modifier.fillMaxWidth())
            state.progress?.let { Text("记录 ${it.recordsDone}/${it.recordsTotal}，证据 ${it.bytesDone}/${it.bytesTotal} 字节") }
        }
        state.error?.let { Text("${it.message}（${it.code}）", color = MaterialTheme.colorScheme.error) }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(onClick = { sync.start() }, enabled = !state.running && status?.enrolment != null) { Text("立即同步") }
            OutlinedButton(onClick = sync::cancel, enabled = state.running) { Text("取消") }
        }
    }
}
