//! Lists (selectors, paging, resourceVersion) and watches (resume, 410, bookmarks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use vlb_kube_emulator::KubeEmulator;

use common::status_of;

async fn make(api: &Api<ConfigMap>, name: &str, labels: serde_json::Value) {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
}

differential! {
async fn list_filters_by_label_and_field_selectors(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "a", json!({"app": "web", "tier": "front"})).await;
    make(&api, "b", json!({"app": "web", "tier": "back"})).await;
    make(&api, "c", json!({"app": "db"})).await;
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items.iter().map(ResourceExt::name_any).collect()
    };
    let l = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(l), vec!["a", "b"]);
    let l = api
        .list(&ListParams::default().labels("tier in (back),app"))
        .await
        .unwrap();
    assert_eq!(names(l), vec!["b"]);
    let l = api
        .list(&ListParams::default().labels("!tier"))
        .await
        .unwrap();
    assert_eq!(names(l), vec!["c"]);
    let l = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(names(l), vec!["b"]);
    let err = api
        .list(&ListParams::default().labels("app in ("))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(400));
}
}

differential! {
async fn list_pages_with_limit_and_continue_and_expired_continue_is_gone(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for i in 0..5 {
        make(&api, &format!("cm-{i}"), json!({})).await;
    }
    let p1 = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(p1.metadata.remaining_item_count, Some(3));
    let token = p1.metadata.continue_.clone().unwrap();
    let p2 = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(p2.items[0].name_any(), "cm-2");
    let t2 = p2.metadata.continue_.clone().unwrap();
    let p3 = api
        .list(&ListParams::default().limit(2).continue_token(&t2))
        .await
        .unwrap();
    assert_eq!(p3.items.len(), 1);
    assert!(p3.metadata.continue_.as_deref().unwrap_or("").is_empty());
    emu.faults().compact();
    let err = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
}
}

differential! {
async fn watch_from_resource_version_sees_later_changes_only(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "before", json!({})).await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    make(&api, "after", json!({})).await;
    let ev = stream.try_next().await.unwrap().unwrap();
    let WatchEvent::Added(cm) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(cm.name_any(), "after");
}
}

differential! {
async fn watch_with_compacted_resource_version_gets_410_error_event(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "x", json!({})).await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    emu.faults().compact();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let ev = stream.try_next().await.unwrap().unwrap();
    let WatchEvent::Error(e) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(e.code, 410);
}
}

differential! {
async fn watch_ends_on_close_watches_and_resumes_from_last_version(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    make(&api, "one", json!({})).await;
    let WatchEvent::Added(one) = stream.try_next().await.unwrap().unwrap() else {
        panic!()
    };
    emu.faults().close_watches();
    assert!(stream.try_next().await.unwrap().is_none(), "stream ends");
    make(&api, "two", json!({})).await;
    let last = one.resource_version().unwrap();
    let mut resumed = api
        .watch(&WatchParams::default(), &last)
        .await
        .unwrap()
        .boxed();
    let WatchEvent::Added(two) = resumed.try_next().await.unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(two.name_any(), "two");
}
}

differential! {
async fn label_selected_watch_turns_unmatching_update_into_deleted(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "x", json!({"app": "web"})).await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=web"), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "x",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    let ev = stream.try_next().await.unwrap().unwrap();
    assert!(matches!(ev, WatchEvent::Deleted(_)), "{ev:?}");
}
}

#[tokio::test]
async fn runtime_watcher_relists_after_forced_410() {
    use kube::runtime::watcher::{self, Event};
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "first", json!({})).await;
    let mut w = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    // Initial list.
    loop {
        if let Event::InitDone = w.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    emu.journal().clear();
    emu.faults().compact();
    make(&api, "second", json!({})).await;
    // The watcher gets 410, relists (a new Init .. InitDone) and sees "second" in it.
    let mut seen_second = false;
    loop {
        match w.try_next().await {
            Ok(Some(Event::InitApply(cm))) if cm.name_any() == "second" => seen_second = true,
            Ok(Some(Event::InitDone)) => break,
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => panic!("watcher ended"),
        }
    }
    assert!(seen_second);
    assert!(
        emu.journal()
            .count_verb(vlb_kube_emulator::Verb::List, "configmaps")
            >= 1
    );
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_end_bookmark() {
    use kube::runtime::watcher::{self, Event};
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "a", json!({})).await;
    make(&api, "b", json!({})).await;
    let mut w = watcher::watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut names = Vec::new();
    loop {
        match w.try_next().await.unwrap().unwrap() {
            Event::InitApply(cm) => names.push(cm.name_any()),
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, vec!["a", "b"]);
    make(&api, "c", json!({})).await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Ok(Some(Event::Apply(cm))) = w.try_next().await {
                return cm.name_any();
            }
        }
    })
    .await
    .expect("apply of c");
    assert_eq!(got, "c");
    assert_eq!(
        emu.journal()
            .count_verb(vlb_kube_emulator::Verb::List, "configmaps"),
        0
    );
}

#[tokio::test]
async fn metadata_only_get_list_and_watcher_return_partial_object_metadata() {
    use kube::runtime::watcher::{self, Event};
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    make(&api, "m", json!({"app": "web"})).await;
    let meta = api.get_metadata("m").await.unwrap();
    assert_eq!(meta.types.unwrap().kind, "PartialObjectMetadata");
    assert_eq!(meta.metadata.labels.unwrap()["app"], "web");
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let metas: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(emu.client(), "default");
    let mut w = watcher::watcher(metas, watcher::Config::default()).boxed();
    loop {
        if let Event::InitDone = w.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    make(&api, "n", json!({})).await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Ok(Some(Event::Apply(m))) = w.try_next().await {
                return m;
            }
        }
    })
    .await
    .expect("apply of n");
    assert_eq!(got.name_any(), "n");
    assert_eq!(got.types.unwrap().kind, "PartialObjectMetadata");
}

differential! {
async fn cluster_wide_paging_walks_every_namespace_in_order(emu) {
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(emu.client());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "a-ns"}})).unwrap(),
    )
    .await
    .unwrap();
    for ns in ["a-ns", "default"] {
        let api: Api<ConfigMap> = Api::namespaced(emu.client(), ns);
        for i in 0..3 {
            make(&api, &format!("cm-{i}"), json!({"set": "x"})).await;
        }
    }
    let all: Api<ConfigMap> = Api::all(emu.client());
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().labels("set=x").limit(2);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = all.list(&lp).await.unwrap();
        seen.extend(
            page.items
                .iter()
                .map(|c| format!("{}/{}", c.namespace().unwrap(), c.name_any())),
        );
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            "a-ns/cm-0",
            "a-ns/cm-1",
            "a-ns/cm-2",
            "default/cm-0",
            "default/cm-1",
            "default/cm-2"
        ]
    );
}
}

differential! {
async fn continued_pages_come_from_the_first_page_snapshot(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for n in ["b", "c", "d", "e"] {
        make(&api, n, json!({})).await;
    }
    let p1 = api.list(&ListParams::default().limit(2)).await.unwrap();
    let names1: Vec<String> = p1.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names1, vec!["b", "c"]);
    // Changes after the first page do not show in the next ones.
    api.delete("e", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    make(&api, "da", json!({})).await;
    let token = p1.metadata.continue_.unwrap();
    let p2 = api
        .list(&ListParams::default().limit(5).continue_token(&token))
        .await
        .unwrap();
    let names2: Vec<String> = p2.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names2, vec!["d", "e"]);
    assert_eq!(p2.metadata.resource_version, p1.metadata.resource_version);
}
}
