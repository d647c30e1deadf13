"""The hospital server's page words in English and Simplified Chinese (the programme view, the
readers' worklist and referral pages), the page's language and its local time.

The language comes from the ``lang`` cookie, else the browser's Accept-Language, else English. The reader
pages and the programme's share it: a radiologist who also views the programme chose once
(:func:`remember_page_language`, which every switch on this server sets). A door's own cookie that an older
version left is moved to the shared one at the next sign-in or sign-out, or at once where it shadows the
shared one (:func:`settle_page_language`). Times are shown in the programme's time zone (setting
``programme_timezone``), never as UTC ISO strings.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional
from zoneinfo import ZoneInfo

from flask import Response, current_app, request
from markupsafe import Markup, escape

from common.i18n import LANGUAGE_COOKIE, LANGUAGES, lookup, negotiate_language  # noqa: F401 - re-exported
from common.i18n import remember_language, separators

# One language for every page of this server, whichever door switched it. Older versions kept one per door
# (a cookie under its path): a switch clears those, else the browser would send the narrower, older one first;
# so does settle_page_language, without a switch.
LANGUAGE_PATH = "/"
FORMER_LANGUAGE_PATHS = ("/reader", "/programme")

CATALOG: dict[str, dict[str, str]] = {
    "title": {"en": "Screening programme", "zh-CN": "筛查项目"},
    "title_clinics": {"en": "Screening programme: clinics", "zh-CN": "筛查项目：各诊所"},
    "title_sign_in": {"en": "Screening programme: sign in", "zh-CN": "筛查项目：登录"},
    "sign_in_intro": {"en": "The programme view is for programme leads and admins. Sign in with the name and "
                            "password the hospital's administrator gave you.",
                      "zh-CN": "项目视图供项目负责人和管理员使用。请使用医院管理员提供的名称和密码登录。"},
    "viewer_name": {"en": "Name", "zh-CN": "名称"},
    "password": {"en": "Password", "zh-CN": "密码"},
    "sign_in": {"en": "Sign in", "zh-CN": "登录"},
    "sign_out": {"en": "Sign out", "zh-CN": "退出"},
    "wrong_credentials": {"en": "Wrong name or password.", "zh-CN": "名称或密码错误。"},
    "session_needed": {"en": "Sign in to see the programme view.", "zh-CN": "请先登录以查看项目视图。"},
    "too_many_attempts": {"en": "Too many wrong passwords for this name: try again in {minutes} minutes.",
                          "zh-CN": "该名称的密码错误次数过多：请在 {minutes} 分钟后再试。"},
    "other_language": {"en": "中文", "zh-CN": "English"},
    "intro": {"en": "Aggregates sent by each clinic (no patient records). Updated {time}.",
              "zh-CN": "各诊所发送的汇总数据（不含患者记录）。更新于 {time}。"},
    # {name}: the person's name, markup the template made (translate_html): no space after the full-width colon.
    "signed_in_as": {"en": "Signed in as {name}", "zh-CN": "当前登录：{name}"},
    "all_clinics": {"en": "All clinics", "zh-CN": "全部诊所"},
    "per_clinic": {"en": "Per clinic", "zh-CN": "各诊所"},
    "clinics_reporting": {"en": "Clinics reporting", "zh-CN": "已报告的诊所"},
    "count_screened_patients": {"en": "Patients screened", "zh-CN": "已筛查患者"},
    "count_assessed_visits": {"en": "Visits assessed", "zh-CN": "已评估就诊"},
    "count_referred": {"en": "Referred for HRCT", "zh-CN": "转诊做 HRCT"},
    "count_hrct_done": {"en": "HRCT done after referral", "zh-CN": "转诊后已完成 HRCT"},
    "count_ild_confirmed": {"en": "ILD confirmed", "zh-CN": "确诊间质性肺病"},
    "count_outcomes_confirmed": {"en": "Outcomes confirmed (HRCT or lung function)",
                                 "zh-CN": "已确认结局（HRCT 或肺功能）"},
    "at_least": {"en": "at least: small counts (1–4) left out for {clinics} of the clinics",
                 "zh-CN": "至少：{clinics} 家诊所的少量例数（1–4）未计入"},
    "referral_yield": {"en": "Referral yield (ILD among scanned referrals)", "zh-CN": "转诊阳性率（已做 CT 的转诊中确诊间质性肺病）"},
    "hrct_completion": {"en": "HRCT completion", "zh-CN": "HRCT 完成率"},
    "small_cells_left_out": {"en": "small counts left out for {clinics} of the clinics",
                             "zh-CN": "{clinics} 家诊所因例数过少未计入"},
    "too_few_to_show": {"en": "too few to show, or none", "zh-CN": "例数过少不予显示，或无"},
    "small_cell": {"en": "1–4 (too few to show exactly)", "zh-CN": "1–4（例数过少，不显示确切数字）"},
    "ci95": {"en": "95% CI", "zh-CN": "95% 置信区间"},
    "pooled_calibration": {"en": "Pooled calibration", "zh-CN": "合并校准"},
    "axis_predicted": {"en": "Predicted risk", "zh-CN": "预测风险"},
    "axis_observed": {"en": "Observed (verification-weighted)", "zh-CN": "实际观察（按核实加权）"},
    "calibration_caption": {"en": "Pooled calibration of the risk on confirmed outcomes; circle area by outcomes.",
                            "zh-CN": "基于已确认结局的合并风险校准；圆面积代表结局数。"},
    "calibration_summary": {"en": "ECE {ece} · calibration-in-the-large {citl}{slope} · {n} outcomes from {clinics} "
                                  "clinics, each weighted by its outcomes",
                            "zh-CN": "ECE {ece} · 总体校准偏差 {citl}{slope} · 来自 {clinics} 家诊所的 {n} 例结局，按各自结局数加权"},
    "slope": {"en": " · slope {value}", "zh-CN": " · 斜率 {value}"},
    "no_outcomes": {"en": "No confirmed outcomes reported yet.", "zh-CN": "尚无已确认的结局报告。"},
    "col_clinic": {"en": "Clinic", "zh-CN": "诊所"},
    "col_month": {"en": "Month", "zh-CN": "月份"},
    "col_screened": {"en": "Screened", "zh-CN": "已筛查"},
    "col_referred": {"en": "Referred", "zh-CN": "已转诊"},
    "col_hrct_done": {"en": "HRCT done", "zh-CN": "已做 HRCT"},
    "col_ild_confirmed": {"en": "ILD confirmed", "zh-CN": "确诊"},
    "col_referral_yield": {"en": "Referral yield", "zh-CN": "转诊阳性率"},
    "col_calibration": {"en": "Calibration", "zh-CN": "校准"},
    "col_versions": {"en": "Model versions", "zh-CN": "模型版本"},
    "col_flags": {"en": "Warnings", "zh-CN": "警示"},
    "received": {"en": "received {time}", "zh-CN": "接收于 {time}"},
    "outcomes": {"en": "{n} outcomes", "zh-CN": "{n} 例结局"},
    "synthetic": {"en": "trained on synthetic data", "zh-CN": "合成数据训练"},
    "calibration_version": {"en": "calibration {version}", "zh-CN": "校准：{version}"},  # a label in Chinese: no space
    "calibration_bundled": {"en": "shipped", "zh-CN": "出厂"},
    "no_figures": {"en": "No figures received.", "zh-CN": "未收到数据。"},
    "no_flags": {"en": "none", "zh-CN": "无"},
    "modality_auscultation": {"en": "lung sounds", "zh-CN": "肺部听诊"},
    "modality_breath": {"en": "breath", "zh-CN": "呼气"},
    "modality_labs": {"en": "blood tests", "zh-CN": "血液检查"},
    "modality_federated_labs_model": {"en": "regional blood-test model", "zh-CN": "区域血液检查模型"},
    "federation": {"en": "Federated learning and regional validation", "zh-CN": "联邦学习与区域验证"},
    "federation_run": {"en": "Latest run ({file}, finished {time}): {clinics} clinics. Every round is a secure sum: "
                              "no clinic's own figures, only the region's.",
                       "zh-CN": "最近一次运行（{file}，完成于 {time}）：{clinics} 家诊所。每一轮均为安全求和：只见区域合计，不见单个诊所的数据。"},
    "federation_clinics": {"en": "{clinics} clinics", "zh-CN": "{clinics} 家诊所"},
    "federation_missing": {"en": "Went missing during the run: {clinics}", "zh-CN": "运行中掉线的诊所：{clinics}"},
    "federation_error": {"en": "The latest federation result cannot be read: {error}",
                         "zh-CN": "无法读取最近一次联邦运行结果：{error}"},
    "col_round": {"en": "Round", "zh-CN": "轮次"},
    "col_stage": {"en": "Stage", "zh-CN": "阶段"},
    "col_clinics": {"en": "Clinics", "zh-CN": "诊所数"},
    "col_missing": {"en": "Missing", "zh-CN": "掉线"},
    "col_seconds": {"en": "Seconds", "zh-CN": "秒"},
    "col_target": {"en": "Validated", "zh-CN": "验证对象"},
    "col_outcomes": {"en": "Outcomes (ILD)", "zh-CN": "结局（间质性肺病）"},
    "round_incomplete": {"en": "halted", "zh-CN": "中止"},
    "kind_lung sounds": {"en": "lung sounds", "zh-CN": "肺部听诊"},
    "kind_breath": {"en": "breath", "zh-CN": "呼气"},
    "device_upload": {"en": "uploaded or tablet microphone", "zh-CN": "上传或平板麦克风"},
    "item_missing": {"en": "{modality} missing", "zh-CN": "缺少{modality}"},
    "item_refusals": {"en": "{kind} refused ({device})", "zh-CN": "{kind}被拒（{device}）"},
    "flag_not_reporting": {"en": "No figures received yet.", "zh-CN": "尚未收到数据。"},
    "flag_overdue": {"en": "Last figures {days} days ago (expected within {limit}).",
                     "zh-CN": "最近数据为 {days} 天前（应在 {limit} 天内）。"},
    "flag_calibration_ece": {"en": "Calibration error (ECE) {value}, above {limit}.",
                             "zh-CN": "校准误差（ECE）{value}，高于 {limit}。"},
    "flag_calibration_in_the_large": {"en": "Overall calibration off by {value} (limit ±{limit}).",
                                      "zh-CN": "总体校准偏差 {value}（限值 ±{limit}）。"},
    "flag_drift_major": {"en": "{modality}: major shift in model outputs (PSI {value}, above {limit}).",
                         "zh-CN": "{modality}：模型输出明显漂移（PSI {value}，高于 {limit}）。"},
    "flag_drift_some": {"en": "{modality}: some shift in model outputs (PSI {value}, above {limit}).",
                        "zh-CN": "{modality}：模型输出有所漂移（PSI {value}，高于 {limit}）。"},
    "flag_data_quality": {"en": "{item}: {value}, above {limit}.", "zh-CN": "{item}：{value}，高于 {limit}。"},
    "flag_data_quality_worse": {"en": "{item}: {before} → {value} since {period}.",
                                "zh-CN": "{item}：自 {period} 起由 {before} 升至 {value}。"},
    "flag_older_model": {"en": "{modality} model {version} is older than {newest}, run elsewhere.",
                         "zh-CN": "{modality}模型 {version} 比其他诊所使用的 {newest} 旧。"},
    "flag_older_calibration": {"en": "Runs the shipped calibration while most clinics run a site calibration.",
                               "zh-CN": "仍在使用出厂校准，而多数诊所已使用本地校准。"},
    "thresholds": {"en": "Warnings: model output shift (PSI) above {psi_some} / {psi_major} (Siddiqi 2006 rule of "
                         "thumb); calibration error above {ece} or overall calibration beyond ±{citl} with at least "
                         "{min_outcomes} outcomes; refusals above {refusal}%; a test missing in more than {missing}% "
                         "of visits; no figures for {overdue} days (programme assumptions, hospital settings).",
                   "zh-CN": "警示规则：模型输出漂移（PSI）高于 {psi_some} / {psi_major}（Siddiqi 2006 经验规则）；在至少 "
                            "{min_outcomes} 例结局时，校准误差高于 {ece} 或总体校准偏差超过 ±{citl}；拒收率高于 {refusal}%；"
                            "某项检查在超过 {missing}% 的就诊中缺失；{overdue} 天未收到数据（项目假设，医院设置）。"},
    # The readers' worklist and referral page (imaging_server.worklist). The clinic's notes stay in its words.
    "title_worklist": {"en": "Referrals for HRCT", "zh-CN": "HRCT 转诊"},
    "title_referral": {"en": "Referral {code}", "zh-CN": "转诊 {code}"},
    "worklist_intro": {"en": "Referrals from the clinics, most urgent first (pseudonymous: no patient names).",
                       "zh-CN": "各诊所的转诊，最紧急的在前（假名化：不含患者姓名）。"},
    "no_referrals": {"en": "No referrals.", "zh-CN": "暂无转诊。"},
    "col_referral": {"en": "Referral (accession number)", "zh-CN": "转诊（检查号）"},
    "col_priority": {"en": "Priority", "zh-CN": "优先级"},
    "col_status": {"en": "Status", "zh-CN": "状态"},
    "col_received": {"en": "Received", "zh-CN": "接收时间"},
    "col_must_not_miss": {"en": "Do not miss", "zh-CN": "务必注意"},
    "priority_asap": {"en": "this week", "zh-CN": "本周内"},
    "priority_urgent": {"en": "within 3 months", "zh-CN": "3 个月内"},
    "priority_routine": {"en": "routine", "zh-CN": "常规"},
    "status_awaiting_images": {"en": "awaiting images", "zh-CN": "等待影像"},
    "status_quantifying": {"en": "quantifying", "zh-CN": "定量分析中"},
    "status_reported": {"en": "reported", "zh-CN": "已出报告"},
    "status_failed": {"en": "failed", "zh-CN": "失败"},
    "status_revoked": {"en": "withdrawn by the clinic", "zh-CN": "诊所已撤回"},
    "marker_urgent": {"en": "Urgent: HRCT this week", "zh-CN": "紧急：本周内做 HRCT"},
    "marker_discordant_hrct_reads": {"en": "HRCT reads disagree", "zh-CN": "HRCT 判读不一致"},
    "back_to_worklist": {"en": "All referrals", "zh-CN": "全部转诊"},
    "title_referral_missing": {"en": "No such referral", "zh-CN": "无此转诊"},
    "referral_missing": {"en": "No referral with this code is known to this server. Check the code, or find the "
                               "referral in the worklist.",
                         "zh-CN": "本服务器上没有此编号的转诊。请核对编号，或在工作列表中查找该转诊。"},
    # A referral whose stored bundle cannot be read (imaging_server.worklist.referral_view; a damaged row).
    "referral_unreadable": {"en": "This referral's content (the reasons and the clinic's notes) could not be read. "
                                  "Below is only what the server stored beside it.",
                            "zh-CN": "无法读取此转诊的内容（转诊原因和诊所的备注）。下方仅为服务器另行保存的信息。"},
    "referral_unreadable_what_to_do": {
        "en": "Ask the hospital's administrator to restore it from a backup, giving them this referral's code; "
              "for the reasons and notes in the meantime, contact the referring clinic.",
        "zh-CN": "请联系医院管理员从备份中恢复，并告知此转诊编号；在此期间如需转诊原因和备注，请联系转诊诊所。"},
    "col_updated": {"en": "Last changed", "zh-CN": "最近更新"},
    "stored_note_kinds": {"en": "Kinds of note the clinic sent", "zh-CN": "诊所发送的备注类型"},
    "no_stored_note_kinds": {"en": "None recorded.", "zh-CN": "无记录。"},
    "referral_reasons": {"en": "Why the patient was referred", "zh-CN": "转诊原因"},
    "referral_notes": {"en": "The clinic's notes, as sent", "zh-CN": "诊所的备注（原文）"},
    "notes_language": {"en": "In the clinic's words; the advice first.", "zh-CN": "为诊所原文；建议在前。"},
    "no_notes": {"en": "The clinic sent no notes.", "zh-CN": "诊所未发送备注。"},
    "note_kind_advice": {"en": "Clinic's advice", "zh-CN": "诊所建议"},
    "note_kind_discordant_hrct_reads": {"en": "HRCT reads disagree", "zh-CN": "HRCT 判读不一致"},
    "note_kind_against_advice": {"en": "Against the screening advice", "zh-CN": "与筛查建议不同"},
    "note_kind_undetermined_diagnosis": {"en": "Diagnosis not established", "zh-CN": "诊断尚未确立"},
    "note_kind_guideline_line": {"en": "Guideline", "zh-CN": "指南"},
    "note_kind_validation": {"en": "Validation", "zh-CN": "验证状态"},
    "note_kind_model": {"en": "Model", "zh-CN": "模型"},
    "note_kind_note": {"en": "Note", "zh-CN": "备注"},
    "observation_notes": {"en": "The clinic's notes on the results, as sent", "zh-CN": "诊所对结果的备注（原文）"},
    "observation_unnamed": {"en": "Result", "zh-CN": "结果"},
    # The results the programme itself names (imaging_client.referral's urn:ildscreen:observation codes).
    "observation_ild-risk": {"en": "ILD risk estimate (research model)", "zh-CN": "间质性肺病风险估计（研究模型）"},
    "observation_crackle-detector-finding": {"en": "Lung-sound crackle detector finding",
                                             "zh-CN": "肺部听诊爆裂音检测结果"},
    "filter_all": {"en": "All", "zh-CN": "全部"},
    # A clinic whose token the hospital revoked (ildscreen imaging-server clinics revoke): its referrals stay.
    "clinics_revoked": {"en": "Clinics with access revoked (their referrals stay)",
                        "zh-CN": "已撤销访问权限的诊所（其转诊保留）"},
    "clinic_revoked": {"en": "{name} (access revoked)", "zh-CN": "{name}（访问权限已撤销）"},
    "clinic_access_revoked": {"en": "access revoked", "zh-CN": "访问权限已撤销"},  # beside the name on a referral
    "worklist_bad_link": {"en": "This link to the worklist cannot be shown: choose the filters again below.",
                          "zh-CN": "无法显示此工作列表链接：请在下方重新选择筛选条件。"},
    "worklist_bad_parameter": {"en": "Parameter “{name}” is unknown, repeated or not a value it takes.",
                               "zh-CN": "参数 “{name}” 未知、重复或取值无效。"},
    "filter_apply": {"en": "Show", "zh-CN": "显示"},
    "worklist_pages": {"en": "Pages of the worklist", "zh-CN": "工作列表分页"},
    "page_first": {"en": "First page", "zh-CN": "第一页"},
    "page_next": {"en": "Next page", "zh-CN": "下一页"},
    # A reader's sign-in (imaging_server.worklist); the rest of the form's words are the programme's.
    "title_reader_sign_in": {"en": "Referrals for HRCT: sign in", "zh-CN": "HRCT 转诊：登录"},
    "reader_sign_in_intro": {"en": "The worklist is for the hospital's radiologists. Sign in with the name and "
                                   "password the hospital's administrator gave you.",
                             "zh-CN": "工作列表供医院放射科医生使用。请使用医院管理员提供的名称和密码登录。"},
    "reader_session_needed": {"en": "Sign in to see the referrals.", "zh-CN": "请先登录以查看转诊。"},
    "name_required": {"en": "Enter your name.", "zh-CN": "请输入名称。"},
    "password_too_long": {"en": "The password is too long: at most {max} characters.",
                          "zh-CN": "密码过长：最多 {max} 个字符。"},
    "form_expired": {"en": "The page had expired: it has been reloaded, try again.",
                     "zh-CN": "页面已过期，已重新加载，请重试。"},
}


def page_context() -> dict:
    """What every page template gets: the request's language, the other one, ``t`` (this catalog in it),
    ``t_html`` (the same, taking markup the template made as values: :func:`translate_html`), ``gap`` (what
    stands between two things shown side by side: :func:`common.i18n.separators`, the clinic's rule too) and
    ``local_time`` (in the programme's time zone)."""
    lang = negotiate_language()
    zone = current_app.extensions["imaging_server"].programme_timezone
    return {"lang": lang, "other_lang": "zh-CN" if lang == "en" else "en",
            "t": lambda key, **values: translate(key, lang, **values),
            "t_html": lambda key, **values: translate_html(key, lang, **values),
            "gap": separators(lang),
            "local_time": lambda stamp: local_time(stamp, zone)}


def remember_page_language(response: Response, code: str) -> Response:
    """``response`` (a switch's redirect) setting the language of every page of this server to ``code``
    (:func:`common.i18n.remember_language`) and clearing each door's former cookie; unchanged for a ``code``
    that is not one of ``LANGUAGES``."""
    remember_language(response, code, path=LANGUAGE_PATH)
    if code in LANGUAGES:
        for path in FORMER_LANGUAGE_PATHS:
            response.delete_cookie(LANGUAGE_COOKIE, path=path, secure=request.is_secure, samesite="Lax")
    return response


def settle_page_language(response: Response, *, moving: bool = False) -> Response:
    """``response`` leaving the browser one ``lang`` cookie, under ``LANGUAGE_PATH``, holding the language this
    page was answered in (:func:`negotiate_language`: a door's former cookie, sent first, decided it, so the
    reader sees no change), each door's former cookie expired (:func:`remember_page_language`).

    Done when the request carried several ``lang`` cookies (a door's former one shadowing the shared one), or
    carried one and ``moving`` is set (a sign-in or sign-out: once a session, a lone former cookie moves to the
    shared path; the browser does not say a cookie's path, so a shared one is merely set again). Unchanged when
    the response sets the language itself (a switch) or no cookie sent names one of ``LANGUAGES``.
    """
    sent = request.cookies.getlist(LANGUAGE_COOKIE)
    if (len(sent) > 1 or (sent and moving)) and set(sent) & set(LANGUAGES) and not _sets_language(response):
        remember_page_language(response, negotiate_language())
    return response


def _sets_language(response: Response) -> bool:
    return any(cookie.startswith(f"{LANGUAGE_COOKIE}=") for cookie in response.headers.getlist("Set-Cookie"))


def translate(key: str, lang: str, **values) -> str:
    """The programme catalog's words for ``key`` in ``lang`` (:func:`common.i18n.lookup`)."""
    return lookup(CATALOG, key, lang, **values)


def translate_html(key: str, lang: str, **values) -> Markup:
    """:func:`translate` as HTML: the words escaped, and each value too unless it is markup the template made
    (e.g. a URL parameter's name in ``<span translate="no">``, an identifier no translator should touch)."""
    entry = CATALOG[key]
    return Markup(escape(entry.get(lang, entry["en"]))).format(**values)


def flag_text(flag: dict, lang: str) -> str:
    """One warning in the page's language (the JSON keeps the English ``message``)."""
    values = dict(flag.get("values") or {})
    if "modality" in values:
        values["modality"] = translate(f"modality_{values['modality']}", lang)
    if isinstance(values.get("item"), list):
        item = values["item"]
        values["item"] = (translate("item_missing", lang, modality=translate(f"modality_{item[1]}", lang))
                          if item[0] == "missing" else
                          translate("item_refusals", lang, kind=translate(f"kind_{item[1]}", lang),
                                    device=device_text(item[2], lang)))
    key = f"flag_{flag['code']}"
    try:
        return translate(key, lang, **values) if key in CATALOG else flag["message"]
    except KeyError:  # a flag from an older server without all its values: its English message
        return flag["message"]


def device_text(device: str, lang: str) -> str:
    """A device as the page shows it: its id, or the words for uploads and the tablet microphone."""
    return translate("device_upload", lang) if device == "upload" else device


def local_time(stamp: Optional[str], zone: str) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM`` in the programme's time zone ('–' when missing)."""
    if not stamp:
        return "–"
    moment = dt.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
