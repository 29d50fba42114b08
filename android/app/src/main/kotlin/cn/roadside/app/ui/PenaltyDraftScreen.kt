package cn.roadside.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import cn.roadside.shell.CoreSession
import cn.roadside.shell.ExemptionBanner
import cn.roadside.shell.PenaltyDraftModel
import uniffi.roadside_core.ItemSummary
import uniffi.roadside_core.TierLevel
import uniffi.roadside_core.ViolationGuidance

/**
 * Penalty draft: search the discretion benchmark, add violations (the guidance pop-up opens), set
 * amounts (outside the range → the pop-up again, and a written justification is required), and the
 * exemption banner when a violation is on the 免罚清单.
 */
@Composable
fun PenaltyDraftScreen(model: PenaltyDraftModel, session: CoreSession) {
    val state by model.state.collectAsStateWithLifecycle()
    var query by remember { mutableStateOf("") }
    var results by remember { mutableStateOf<List<ItemSummary>>(emptyList()) }
    LaunchedEffect(query) {
        results = if (query.isBlank()) emptyList() else runCatching { session.rules { it.search(query, 8u) } }.getOrDefault(emptyList())
    }

    Column(Modifier.verticalScroll(rememberScrollState()).padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text("处罚决定（草稿）", style = MaterialTheme.typography.headlineSmall)
        state.banners.forEach { ExemptionBannerCard(it) }

        val facts = state.draft.facts
        OutlinedTextField(
            value = facts.grossWeightKg?.toString().orEmpty(),
            onValueChange = { v -> model.setFacts(facts.copy(grossWeightKg = v.toDoubleOrNull())) },
            label = { Text("车货总质量（千克）") },
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(
            value = facts.axles?.toString().orEmpty(),
            onValueChange = { v -> model.setFacts(facts.copy(axles = v.toUIntOrNull())) },
            label = { Text("轴数") },
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(value = query, onValueChange = { query = it }, label = { Text("查找违法行为（编码、文字或拼音首字母，如 cx）") }, modifier = Modifier.fillMaxWidth())
        results.forEach { item ->
            TextButton(onClick = { model.addViolation(item.code); query = "" }) { Text("${item.code} ${item.name}") }
        }

        state.draft.violations.forEach { v ->
            val g = state.check?.guidance?.violations?.firstOrNull { it.code == v.code }
            Card(Modifier.fillMaxWidth()) {
                Column(Modifier.padding(12.dp)) {
                    Text("${v.code} ${g?.name.orEmpty()}", style = MaterialTheme.typography.titleSmall)
                    g?.let { Text("${tierText(it.tier)}：${rangeText(it)}；建议 ${it.recommendedYuan?.let { y -> "$y 元" } ?: if (it.recommendedWarning) "警告" else "—"}") }
                    Row {
                        OutlinedTextField(
                            value = if (v.amountYuan == 0L) "" else v.amountYuan.toString(),
                            onValueChange = { s -> model.setAmount(v.code, s.toLongOrNull() ?: 0) },
                            label = { Text("罚款（元）") },
                            modifier = Modifier.weight(1f),
                        )
                        TextButton(onClick = { model.openGuidance(v.code) }) { Text("裁量依据") }
                    }
                }
            }
        }
        if (state.draft.violations.isNotEmpty()) TextButton(onClick = model::applyRecommended) { Text("采用建议金额") }

        state.check?.let { check ->
            check.errors.forEach { Text("${it.message}（${it.path}）", color = MaterialTheme.colorScheme.error) }
            check.warnings.forEach { Text(it.message, color = MaterialTheme.colorScheme.tertiary) }
            if (check.errors.any { it.code == "AMOUNT_OUTSIDE_RANGE_NO_JUSTIFICATION" }) {
                OutlinedTextField(value = state.draft.justification, onValueChange = model::setJustification, label = { Text("偏离裁量基准的说明") }, modifier = Modifier.fillMaxWidth(), minLines = 3)
            }
            Text("罚款合计 ${check.totalFineYuan} 元", style = MaterialTheme.typography.titleMedium)
        }
        state.error?.let { e ->
            Text("${e.message}（${e.code}）", color = MaterialTheme.colorScheme.error)
            e.issues.forEach { Text("· ${it.path}：${it.message}", color = MaterialTheme.colorScheme.error) }
        }
    }

    state.popup?.let { GuidanceDialog(it, onDismiss = model::dismissGuidance, onApply = { model.applyRecommended(); model.dismissGuidance() }) }
}

@Composable
private fun GuidanceDialog(g: ViolationGuidance, onDismiss: () -> Unit, onApply: () -> Unit) {
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text("裁量基准：${g.name}") },
        text = {
            Column(Modifier.verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text("${tierText(g.tier)}（${g.tierCriteria}）")
                Text("处罚幅度：${rangeText(g)}")
                g.recommendedYuan?.let { Text("建议罚款：$it 元" + if (g.fixedByFormula) "（按公式计算）" else "") }
                if (g.lighter.isNotEmpty()) Text("从轻、减轻情节：" + g.lighter.joinToString("；"))
                if (g.heavier.isNotEmpty()) Text("从重情节：" + g.heavier.joinToString("；"))
                g.reasons.forEach { Text("· $it") }
                if (g.missingFacts.isNotEmpty()) Text("还需要：" + g.missingFacts.joinToString("、"), color = MaterialTheme.colorScheme.error)
                Text("依据：${g.basis}", style = MaterialTheme.typography.bodySmall)
            }
        },
        confirmButton = { TextButton(onClick = onApply, enabled = g.recommendedYuan != null || g.recommendedWarning) { Text("采用建议") } },
        dismissButton = { TextButton(onClick = onDismiss) { Text("关闭") } },
    )
}

@Composable
private fun ExemptionBannerCard(b: ExemptionBanner) {
    val colors = if (b.blocksFine) {
        CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer)
    } else {
        CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.secondaryContainer)
    }
    Card(colors = colors, modifier = Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp)) {
            Text(b.title, style = MaterialTheme.typography.titleSmall)
            b.details.forEach { Text("· $it") }
            Text(b.basis, style = MaterialTheme.typography.bodySmall)
        }
    }
}

private fun tierText(t: TierLevel?) = when (t) {
    TierLevel.SLIGHT -> "轻微"
    TierLevel.ORDINARY -> "一般"
    TierLevel.HEAVIER -> "较重"
    TierLevel.SERIOUS -> "严重"
    null -> "未定档"
}

private fun rangeText(g: ViolationGuidance): String = when {
    g.minYuan != null && g.maxYuan != null -> "${g.minYuan}—${g.maxYuan} 元"
    g.warningAllowed -> "警告"
    else -> "—"
}
