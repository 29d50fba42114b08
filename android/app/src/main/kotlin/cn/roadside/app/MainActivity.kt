package cn.roadside.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import cn.roadside.app.ui.CaseCompletionTab
import cn.roadside.app.ui.EvidenceScreen
import cn.roadside.app.ui.InspectionFormScreen
import cn.roadside.app.ui.PenaltyDraftScreen
import cn.roadside.app.ui.SyncScreen

class MainActivity : ComponentActivity() {
    private val model: AppViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            MaterialTheme {
                val state by model.state.collectAsStateWithLifecycle()
                when (val s = state) {
                    AppState.Opening -> Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) {
                        CircularProgressIndicator()
                    }
                    is AppState.Failed -> Column(Modifier.fillMaxSize().padding(24.dp)) {
                        Text("无法打开本机数据（${s.error.code}）", style = MaterialTheme.typography.titleMedium)
                        Text(s.error.message, Modifier.padding(vertical = 8.dp))
                        Button(onClick = model::open) { Text("重试") }
                    }
                    is AppState.Ready -> Tabs(s.screens, model)
                }
            }
        }
    }
}

@Composable
private fun Tabs(screens: Screens, model: AppViewModel) {
    var tab by rememberSaveable { mutableIntStateOf(0) }
    val titles = listOf("笔录", "证据", "处罚", "结案", "同步")
    Scaffold(
        bottomBar = {
            NavigationBar {
                titles.forEachIndexed { i, title ->
                    NavigationBarItem(selected = tab == i, onClick = { tab = i }, icon = {}, label = { Text(title) })
                }
            }
        },
    ) { padding ->
        Box(Modifier.padding(padding)) {
            when (tab) {
                0 -> InspectionFormScreen(screens.form)
                1 -> EvidenceScreen(screens, model)
                2 -> PenaltyDraftScreen(screens.penalty, screens.session)
                3 -> CaseCompletionTab(screens, model)
                else -> SyncScreen(screens.sync)
            }
        }
    }
}
