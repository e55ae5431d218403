//! `stepwise status RUN`: each step of a run, with what it did and when.

use super::*;

/// `stepwise status RUN`.
pub fn status(run: &str, json: bool) -> Result<i32> {
    let st = state::peek(run)?;
    let plan = crate::runbook::load(&st.runbook.path).ok();
    let steps: Vec<StepStatus> = st
        .steps
        .iter()
        .map(|(key, s)| {
            let found = plan.as_ref().and_then(|p| p.index_of(key).map(|i| (p, i)));
            StepStatus {
                key: key.clone(),
                title: found.map(|(p, i)| p.step(i).title.clone()),
                kind: found.map(|(p, i)| p.step(i).kind()),
                depth: found.map_or(0, |(p, i)| p.steps[i].depth),
                changed: found.is_some_and(|(p, i)| crate::engine::changed_since_it_ran(p, i, s)),
                group_alive: group_alive(&st, s),
                state: s.clone(),
            }
        })
        .collect();
    let driving = driving(&st);
    let mut report = RunStatus {
        summary: summarise(&st, driving.driven),
        driving,
        workdir: st.workdir.clone(),
        inputs: st.inputs.clone(),
        steps,
    };
    // All done, but the runbook changed under some steps: not completed until reviewed.
    let changed = report.steps.iter().filter(|s| s.changed).count();
    if changed > 0 && report.summary.status == "completed" {
        report.summary.status = "changed";
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    let now = Timestamp::now();
    let tz = jiff::tz::TimeZone::system();
    let confirmed_by = confirmations(&st.name);
    outln!(
        "run {} of {} ({})",
        st.name,
        st.runbook.path.display(),
        st.runbook.title
    );
    let progress = if report.summary.status == "changed" {
        let (s, they, them) = if changed == 1 {
            ("", "it", "it")
        } else {
            ("s", "they", "them")
        };
        format!(
            "{}/{} done, {changed} step{s} changed since {they} ran: `stepwise resume {}` reviews {them}",
            report.summary.done, report.summary.total, st.name
        )
    } else {
        progress_driven(&report.summary, &report.driving)
    };
    outln!("{progress}, updated {}", ago(st.updated_at, now));
    if let Some(last) = &st.last_check {
        let not_held: Vec<String> = [
            ("drifted", &last.drifted),
            ("unknown", &last.unknown),
            ("expiring", &last.expiring),
        ]
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(word, keys)| format!("{word}: {}", keys.join(", ")))
        .collect();
        let more = if not_held.is_empty() {
            String::new()
        } else {
            format!(" ({})", not_held.join("; "))
        };
        outln!(
            "last checked {}: {}{more}",
            ago(last.at, now),
            last.result.as_str()
        );
    }
    for s in &report.steps {
        let indent = "  ".repeat(s.depth);
        let line = step_line(s, &report.driving);
        outln!("{line}");
        let confirmed = confirmed_by.get(&s.key);
        for detail in step_details(&s.state, confirmed, &tz) {
            outln!("{indent}            {detail}");
        }
    }
    if plan.is_none() {
        outln!(
            "note: the runbook {} cannot be read now; titles are not shown",
            st.runbook.path.display()
        );
    }
    Ok(exit::OK)
}
