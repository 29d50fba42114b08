package cn.roadside.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import cn.roadside.shell.InspectionFormModel
import cn.roadside.shell.InspectionFormState
import kotlinx.coroutines.launch
import uniffi.roadside_core.CaseStatus
import uniffi.roadside_core.OfficerRef
import uniffi.roadside_core.Vehicle

/** 现场笔录: each field shows the core's issues for its path as the officer types. */
@Composable
fun InspectionFormScreen(form: InspectionFormModel) {
    val state by form.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    val r = state.record
    Column(
        Modifier.verticalScroll(rememberScrollState()).padding(16.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        Text("现场笔录", style = MaterialTheme.typography.headlineSmall)
        state.case?.let { Text("案件 ${it.caseNumber ?: it.id}：${statusText(it.status)}，笔录 ${it.records} 份，证据 ${it.evidence} 件") }

        Field(state, "place.address", "执法地点", r.place.address) { v -> form.edit { it.copy(place = it.place.copy(address = v)) } }
        Field(state, "started_at", "执法时间（起）", r.startedAt) { v -> form.edit { it.copy(startedAt = v) } }
        Field(state, "ended_at", "执法时间（止）", r.endedAt.orEmpty()) { v -> form.edit { it.copy(endedAt = v.ifBlank { null }) } }
        for (i in 0..1) {
            val o = r.officers.getOrNull(i) ?: OfficerRef("", "")
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Field(state, "officers[$i].name", "执法人员${i + 1}", o.name, Modifier.weight(1f)) { v -> form.edit { it.copy(officers = setOfficer(it.officers, i, o.copy(name = v))) } }
                Field(state, "officers[$i].certificate_no", "执法证号", o.certificateNo, Modifier.weight(1f)) { v ->
                    form.edit { it.copy(officers = setOfficer(it.officers, i, o.copy(certificateNo = v))) }
                }
            }
        }
        IssuesText(state, "officers", exact = true)
        Field(state, "recorder", "记录人", r.recorder) { v -> form.edit { it.copy(recorder = v) } }
        val vehicle = r.vehicle ?: Vehicle("", "", null, null, null, null, null)
        Field(state, "vehicle.plate", "车牌号", vehicle.plate) { v -> form.edit { it.copy(vehicle = vehicle.copy(plate = v)) } }
        Field(state, "vehicle.vehicle_type", "车辆类型", vehicle.vehicleType) { v -> form.edit { it.copy(vehicle = vehicle.copy(vehicleType = v)) } }
        Field(state, "situation", "现场情况", r.situation, minLines = 4) { v -> form.edit { it.copy(situation = v) } }

        state.error?.let { Text("${it.message}（${it.code}）", color = MaterialTheme.colorScheme.error) }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(onClick = { scope.launch { form.save() } }, enabled = state.canSave) { Text(if (state.case == null) "保存并立案" else "保存笔录") }
            OutlinedButton(
                onClick = { scope.launch { form.finalizeCase() } },
                enabled = state.case?.status == CaseStatus.DRAFT && !state.busy,
            ) { Text("办结") }
        }
    }
}

private fun setOfficer(list: List<OfficerRef>, i: Int, o: OfficerRef): List<OfficerRef> {
    val out = list.toMutableList()
    while (out.size <= i) out += OfficerRef("", "")
    out[i] = o
    return out
}

private fun statusText(s: CaseStatus) = when (s) {
    CaseStatus.DRAFT -> "办理中"
    CaseStatus.FINALIZED -> "已办结"
    CaseStatus.VOIDED -> "已作废"
}

@Composable
private fun Field(
    state: InspectionFormState,
    path: String,
    label: String,
    value: String,
    modifier: Modifier = Modifier.fillMaxWidth(),
    minLines: Int = 1,
    onChange: (String) -> Unit,
) {
    val issues = state.issuesAt(path)
    OutlinedTextField(
        value = value,
        onValueChange = onChange,
        label = { Text(label) },
        isError = issues.isNotEmpty(),
        supportingText = if (issues.isEmpty()) null else { { Text(issues.joinToString("；") { it.message }) } },
        minLines = minLines,
        modifier = modifier,
    )
}

@Composable
private fun IssuesText(state: InspectionFormState, path: String, exact: Boolean) {
    val issues = if (exact) state.issues[path].orEmpty() else state.issuesAt(path)
    if (issues.isNotEmpty()) Text(issues.joinToString("；") { it.message }, color = MaterialTheme.colorScheme.error)
}
