"""Translations of the tablet UI (English and Simplified Chinese) and language negotiation.

The language comes from the ``lang`` cookie (set by the switch in the header), else from the
browser's Accept-Language, else English.
"""
from __future__ import annotations

from common.i18n import LANGUAGE_COOKIE, LANGUAGES, lookup, negotiate_language  # noqa: F401 - re-exported
# How a page joins what it puts side by side (sentences, pieces of a line, a label and its value): both servers' rule.
from common.i18n import (LABEL_SEPARATORS, PIECE_SEPARATORS, SENTENCE_SEPARATORS, join_sentences,  # noqa: F401
                         separators)


CATALOG: dict[str, dict[str, str]] = {
    "app_title": {"en": "ILD screening", "zh-CN": "间质性肺病筛查"},
    "not_for_clinical_use": {"en": "Not for clinical use until validated.", "zh-CN": "未经验证，不得用于临床。"},
    "synthetic_banner": {"en": "A model used here was trained on synthetic data only: treat the risk as a demonstration.",
                         "zh-CN": "此处使用的模型仅用合成数据训练：风险值仅供演示。"},
    "login": {"en": "Log in", "zh-CN": "登录"},
    "logout": {"en": "Log out", "zh-CN": "退出"},
    "lock_now": {"en": "Lock now", "zh-CN": "立即锁屏"},
    "edit_patient": {"en": "Patient details and symptoms", "zh-CN": "患者信息和症状"},
    "edit_patient_hint": {"en": "Check the details and tick every symptom the patient has now; saving with none "
                                "ticked records that there are none. Every change is logged.",
                          "zh-CN": "核对信息并勾选患者目前的所有症状；不勾选任何症状保存即表示目前无症状。每次修改均有记录。"},
    "cancel": {"en": "Cancel", "zh-CN": "取消"},
    "edit_details": {"en": "Edit details and symptoms", "zh-CN": "修改信息和症状"},
    "username": {"en": "Username", "zh-CN": "用户名"},
    "password": {"en": "Password", "zh-CN": "密码"},
    "wrong_credentials": {"en": "Wrong username or password.", "zh-CN": "用户名或密码错误。"},
    "change_password_first": {"en": "You logged in with a one-time password: choose your own password first.",
                              "zh-CN": "您使用的是一次性密码登录：请先设置自己的密码。"},
    "today": {"en": "Today's visits", "zh-CN": "今日就诊"},
    "no_visits_today": {"en": "No visits yet today.", "zh-CN": "今天还没有就诊。"},
    "find_patient": {"en": "Find a patient", "zh-CN": "查找患者"},
    "search": {"en": "Search", "zh-CN": "搜索"},
    "register_patient": {"en": "Register a patient", "zh-CN": "登记患者"},
    "patient_code": {"en": "Patient code (pseudonymous)", "zh-CN": "患者编码（化名）"},
    "birth_year": {"en": "Year of birth", "zh-CN": "出生年份"},
    "sex": {"en": "Sex", "zh-CN": "性别"},
    "sex_F": {"en": "Female", "zh-CN": "女"},
    "sex_M": {"en": "Male", "zh-CN": "男"},
    "ctd_diagnosis": {"en": "Connective-tissue disease", "zh-CN": "结缔组织病"},
    "autoantibodies": {"en": "Positive autoantibodies", "zh-CN": "阳性自身抗体"},
    "smoking": {"en": "Smoking", "zh-CN": "吸烟"},
    "smoking_never": {"en": "Never", "zh-CN": "从不"},
    "smoking_former": {"en": "Former", "zh-CN": "已戒烟"},
    "smoking_current": {"en": "Current", "zh-CN": "目前吸烟"},
    "pack_years": {"en": "Pack-years (former or current smokers; empty if not known)",
                   "zh-CN": "吸烟包年数（已戒烟或目前吸烟者；不详可不填）"},
    "symptoms": {"en": "Symptoms", "zh-CN": "症状"},
    "medications": {"en": "Medications (comma-separated)", "zh-CN": "用药（逗号分隔）"},
    "save": {"en": "Save", "zh-CN": "保存"},
    "new_visit": {"en": "Start a screening visit", "zh-CN": "开始筛查就诊"},
    "timeline": {"en": "Timeline", "zh-CN": "时间线"},
    # A page title never carries the patient's code: the tablet keeps titles in its history and tab strip.
    "patient_record": {"en": "Patient record", "zh-CN": "患者档案"},
    "risk_trend": {"en": "Risk over time", "zh-CN": "风险变化"},
    "visit": {"en": "Visit", "zh-CN": "就诊"},
    "step_auscultation": {"en": "1. Lung sounds", "zh-CN": "1. 肺部听诊"},
    "step_breath": {"en": "2. Breath", "zh-CN": "2. 呼气检测"},
    "step_labs": {"en": "3. Blood tests", "zh-CN": "3. 血液检查"},
    "step_result": {"en": "4. Result", "zh-CN": "4. 结果"},
    # Why the diaphragm: measured, not a guideline (textbooks differ on bell or diaphragm for lung
    # sounds). Through the Littmann 3200's bell filter the crackle detector found 1 of 9 KAUH adults
    # with crackles, through its diaphragm filter 6 of 8, over all 37 KAUH adults (22 of them chose the
    # threshold); on the 15 test adults alone 0 of 3 and 3 of 3 (docs/evidence.md, model 0.6.0).
    # The pieces are the programme's (edge.web.presenters.auscultation_hint): auscultation_hint_use names
    # chest_piece_default (the diaphragm unless set), auscultation_hint_avoid the stated pieces of
    # evidence_chest_pieces_cannot_clear (the bell unless set; neither sentence when there are none).
    "auscultation_hint": {"en": "Record 20 s at each site, posterior bases first, while the patient breathes deeply "
                                "through the mouth.",
                          "zh-CN": "每个部位录音 20 秒，先录背部肺底，请患者张口深呼吸。"},
    "auscultation_hint_use": {"en": "Use the chest piece (or filter mode) the form starts on: {piece}.",
                              "zh-CN": "请使用表单预选的听诊头（或滤波模式）：{piece}。"},
    "auscultation_hint_avoid": {"en": "Avoid {pieces}: through such a chest piece the crackle detector misses most "
                                      "crackles, so a take through it that finds none does not rule crackles out.",
                                "zh-CN": "避免使用{pieces}：用此类听诊头录音时，爆裂音检测器会漏掉大部分爆裂音，"
                                         "未发现爆裂音也不能排除爆裂音。"},
    "chest_site": {"en": "Chest site", "zh-CN": "听诊部位"},
    "chest_piece": {"en": "Chest piece", "zh-CN": "听诊头"},
    "chest_piece_diaphragm": {"en": "Diaphragm", "zh-CN": "膜型面"},
    "chest_piece_bell": {"en": "Bell", "zh-CN": "钟型面"},
    "chest_piece_extended": {"en": "Extended filter", "zh-CN": "扩展滤波模式"},
    "chest_piece_not_stated": {"en": "Not stated", "zh-CN": "未说明"},
    # Under a take with no crackles (edge.web.presenters.chest_piece_note). Measured: through the
    # bell filter the crackle detector found 1 of 9 KAUH adults with crackles, through the diaphragm
    # 6 of 8, over all 37 KAUH adults (22 of them chose the threshold); on the 15 test adults alone 0 of 3
    # and 3 of 3 (docs/evidence.md, model 0.6.0); such a take does not make its site heard. {piece}: the take's;
    # {pieces}: the stated pieces of evidence_chest_pieces_cannot_clear, as alternatives (the bell unless set;
    # no note for an unstated take when there are none). Followed by record_again_*_one (or *_if_not_stated):
    # what to record through, from the devices that count less those same pieces
    # (edge.web.presenters.chest_piece_text), as the line of a take left out for its device does.
    "chest_piece_cannot_clear": {"en": "No crackles found, but through this chest piece ({piece}) the crackle "
                                       "detector misses most crackles: this does not rule crackles out, and the site "
                                       "is not counted as heard.",
                                 "zh-CN": "未发现爆裂音，但用此听诊头（{piece}）录音时爆裂音检测器会漏掉大部分爆裂音："
                                          "此结果不能排除爆裂音，该部位不计为已听诊。"},
    "chest_piece_not_stated_clear": {"en": "No crackles found, but which chest piece was used is not stated: if it "
                                           "was {pieces}, this does not rule crackles out (the crackle detector "
                                           "misses most crackles through such a chest piece).",
                                     "zh-CN": "未发现爆裂音，但未说明所用的听诊头：如果用的是{pieces}，此结果不能排除爆裂音"
                                              "（用此类听诊头时爆裂音检测器会漏掉大部分爆裂音）。"},
    # What to record through instead of a chest piece that cannot rule crackles out (edge.web.presenters.
    # record_again_clearing): {devices}, the devices that count (edge.auscultation.devices_counting) whose chest
    # piece is not in evidence_chest_pieces_cannot_clear (edge.modalities.devices_that_can_clear); none such; or,
    # when nothing says which count (other_piece), a chest piece that can, unnamed.
    "record_again_can_clear_one": {"en": "Record this site again through a stethoscope and chest piece that count "
                                         "and can rule crackles out: {devices}.",
                                   "zh-CN": "请用计入且能排除爆裂音的听诊器和听诊头重新录制此部位：{devices}。"},
    "record_again_can_clear_several": {"en": "Record the lung sounds again through a stethoscope and chest piece "
                                             "that count and can rule crackles out: {devices}.",
                                       "zh-CN": "请用计入且能排除爆裂音的听诊器和听诊头重新录制肺部听诊：{devices}。"},
    "record_again_can_clear_if_not_stated": {"en": "If it was, record this site again through a stethoscope and chest "
                                             "piece that count and can rule crackles out: {devices}.",
                                       "zh-CN": "如果是，请用计入且能排除爆裂音的听诊器和听诊头重新录制此部位：{devices}。"},
    "record_again_none_can_clear_one": {"en": "No stethoscope or chest piece that counts can rule crackles out yet, "
                                              "so a take of this site that finds no crackles will not make it heard.",
                                        "zh-CN": "目前计入的听诊器或听诊头均不能排除爆裂音，因此此部位未发现爆裂音的录音不能使其算作已听诊。"},
    "record_again_none_can_clear_several": {"en": "No stethoscope or chest piece that counts can rule crackles out "
                                                  "yet, so takes that find no crackles will not make these sites "
                                                  "heard.",
                                            "zh-CN": "目前计入的听诊器或听诊头均不能排除爆裂音，因此未发现爆裂音的录音不能使这些部位算作已听诊。"},
    "record_again_none_can_clear_if_not_stated": {"en": "If it was, recording it again will not help: no stethoscope or "
                                                  "chest piece that counts can rule crackles out yet.",
                                            "zh-CN": "如果是，重新录制也无济于事：目前计入的听诊器或听诊头均不能排除爆裂音。"},
    "record_again_other_piece_one": {"en": "Record this site again through a chest piece that can rule crackles out.",
                                     "zh-CN": "请用能排除爆裂音的听诊头重新录制此部位。"},
    "record_again_other_piece_several": {"en": "Record the lung sounds again through a chest piece that can rule "
                                               "crackles out.",
                                         "zh-CN": "请用能排除爆裂音的听诊头重新录制肺部听诊。"},
    "record_again_other_piece_if_not_stated": {"en": "If it was, record this site again through a chest piece that can "
                                               "rule crackles out.",
                                         "zh-CN": "如果是，请用能排除爆裂音的听诊头重新录制此部位。"},
    # The take's stethoscope (make and model, from the clinic's settings stethoscopes), and what its crackle
    # result says of it (edge.auscultation.stethoscope_validation, read from the crackle model's manifest).
    "stethoscope": {"en": "Stethoscope", "zh-CN": "听诊器"},
    "stethoscope_not_stated": {"en": "Not stated", "zh-CN": "未说明"},
    # A validated take quotes its own device's figures (validation.populations.adults.by_device) when the
    # manifest has them; else the adults' figures over all their devices together, and says so.
    "stethoscope_validated": {"en": "Validated on adults through this stethoscope and chest piece ({stethoscope}, "
                                    "{chest_piece}): on {patients} adults the crackle model never saw ({positive} with "
                                    "crackles; {population}), their recordings through {device} alone gave patient sensitivity "
                                    "{sensitivity} ({sensitivity_low}-{sensitivity_high}), specificity {specificity} "
                                    "({specificity_low}-{specificity_high}).",
                              "zh-CN": "已在成人中通过此听诊器和听诊头（{stethoscope}，{chest_piece}）验证：在爆裂音模型从未见过的 "
                                       "{patients} 名成人中（{positive} 名有爆裂音；{population}），仅按其经 {device} 的录音计，按患者计"
                                       "灵敏度 {sensitivity}（{sensitivity_low}–{sensitivity_high}），特异度 {specificity}"
                                       "（{specificity_low}–{specificity_high}）。"},
    "stethoscope_validated_pooled": {
        "en": "Validated on adults through this stethoscope and chest piece ({stethoscope}, {chest_piece}): on "
              "{patients} adults the crackle model never saw ({positive} with crackles; {population}), patient "
              "sensitivity {sensitivity} ({sensitivity_low}-{sensitivity_high}), specificity {specificity} "
              "({specificity_low}-{specificity_high}), over all their recordings together ({devices}): the "
              "model's manifest gives no figures for this chest piece alone.",
        "zh-CN": "已在成人中通过此听诊器和听诊头（{stethoscope}，{chest_piece}）验证：在爆裂音模型从未见过的 "
                 "{patients} 名成人中（{positive} 名有爆裂音；{population}），按患者计灵敏度 {sensitivity}"
                 "（{sensitivity_low}–{sensitivity_high}），特异度 {specificity}"
                 "（{specificity_low}–{specificity_high}），为其全部录音合计（{devices}）：模型清单未单独给出此听诊头的数据。"},
    "stethoscope_chest_piece_not_validated": {
        "en": "The crackle model was validated on adults through this stethoscope ({stethoscope}) only as {devices}; "
              "this take's chest piece ({chest_piece}) is not one of them.",
        "zh-CN": "爆裂音模型在成人中仅按以下方式通过此听诊器（{stethoscope}）验证：{devices}；本次录音的听诊头"
                 "（{chest_piece}）不在其中。"},
    # {populations}: each population named by its key in the manifest's validation (validation_population_*),
    # since the manifest's own words are English only.
    "stethoscope_not_in_adults": {"en": "This stethoscope ({stethoscope}) is one the crackle model was validated on "
                                        "only in {populations}, not in adults like those screened here (in adults "
                                        "it was validated through: {devices}).",
                                  "zh-CN": "爆裂音模型仅在{populations}中通过此听诊器（{stethoscope}）验证，"
                                           "未在此处筛查的成人中验证（在成人中验证所用：{devices}）。"},
    "validation_population_adults": {"en": "adults", "zh-CN": "成人"},
    "validation_population_children_sprsound2022": {"en": "children (SPRSound 2022)",
                                                    "zh-CN": "儿童（SPRSound 2022）"},
    "validation_population_children_sprsound2022_test": {"en": "children (SPRSound 2022, recorded later)",
                                                         "zh-CN": "儿童（SPRSound 2022，较晚录制）"},
    "validation_population_other": {"en": "another population", "zh-CN": "其他人群"},
    "stethoscope_not_validated": {"en": "This stethoscope ({stethoscope}) is not one the crackle model was validated "
                                        "on (in adults it was validated through: {devices}).",
                                  "zh-CN": "此听诊器（{stethoscope}）不是爆裂音模型验证过的听诊器（在成人中验证所用：{devices}）。"},
    "stethoscope_unknown": {"en": "Which stethoscope this take went through is not on record, so whether the crackle "
                                  "model was validated on it is not known (in adults it was validated through: "
                                  "{devices}).",
                            "zh-CN": "未记录本次录音所用的听诊器，因此无法知道爆裂音模型是否在其上验证过"
                                     "（在成人中验证所用：{devices}）。"},
    "stethoscope_no_devices": {"en": "none", "zh-CN": "无"},
    # After the statement, for a take that does not count (edge.modalities.stethoscope_counts): the crackle
    # model's likelihood ratios were earned in adults through other devices (issue 24).
    # On an open visit each is followed by what to record through (its *_record_again); a closed visit's take is a
    # record, so only what happened is said (edge.web.presenters.stethoscope_statement).
    "stethoscope_does_not_count": {"en": "So this take does not count: it does not make its site heard and does not "
                                         "change the risk (the model's accuracy was measured through other "
                                         "stethoscopes).",
                                   "zh-CN": "因此本次录音不计入：它不能使该部位算作已听诊，也不改变风险（模型的准确性是通过其他听诊器测得的）。"},
    "stethoscope_does_not_count_record_again": {"en": "Record this site again through a stethoscope and chest piece "
                                                      "the model was validated on: {devices}.",
                                                "zh-CN": "请用模型验证过的听诊器和听诊头重新录制此部位：{devices}。"},
    # evidence_require_validated_stethoscope: the programme counts only takes that name a validated device.
    "stethoscope_required_not_counted": {"en": "This programme counts only takes through a named stethoscope and "
                                               "chest piece the crackle model was validated on, so this take does not "
                                               "count: it does not make its site heard and does not change the risk.",
                                         "zh-CN": "本项目只计入通过已注明且经爆裂音模型验证的听诊器和听诊头录制的录音，因此本次录音不计入："
                                                  "它不能使该部位算作已听诊，也不改变风险。"},
    "stethoscope_required_not_counted_record_again": {"en": "Record this site again, naming the stethoscope and chest "
                                                            "piece, through one of: {devices}.",
                                                      "zh-CN": "请注明听诊器和听诊头，用以下之一重新录制此部位：{devices}。"},
    "record": {"en": "Record 20 s with the tablet microphone", "zh-CN": "用平板麦克风录音 20 秒"},
    "stop": {"en": "Stop", "zh-CN": "停止"},
    "recording": {"en": "Recording…", "zh-CN": "正在录音…"},
    "uploading": {"en": "Uploading…", "zh-CN": "正在上传…"},
    "upload_file": {"en": "Upload a recording (WAV/FLAC)", "zh-CN": "上传录音（WAV/FLAC）"},
    "upload": {"en": "Upload", "zh-CN": "上传"},
    "quality_ok": {"en": "Quality OK", "zh-CN": "质量合格"},
    "quality_poor": {"en": "Poor quality: record again", "zh-CN": "质量差：请重新录音"},
    "crackle_probability": {"en": "Crackle probability", "zh-CN": "爆裂音概率"},
    "labs_kept_unscored": {"en": "Lab results saved but not scored: the labs model is unavailable (see /readyz). "
                                 "They are scored once it is repaired; no need to enter them again.",
                           "zh-CN": "化验结果已保存，但未评分：化验模型不可用（见服务状态页 /readyz）。模型修复后会自动评分，无需重新录入。"},
    # A breath reading without a score, by why (edge.web.visit_views.BREATH_UNSCORED_KEYS; one the served model
    # cannot take is worded by not_counted_not_scorable, as the result words it).
    "breath_kept_unscored": {"en": "Saved; the breath model is unavailable (see /readyz): it is scored once the model "
                                   "is repaired.",
                             "zh-CN": "已保存；呼气模型不可用（见服务状态页 /readyz）：模型修复后会自动评分。"},
    "breath_not_scored_yet": {"en": "read while the breath model was unavailable; it is scored when the risk is "
                                    "calculated",
                              "zh-CN": "检测时呼气模型不可用；计算风险时会为其评分"},
    "breath_unscored_closed": {"en": "read while the breath model was unavailable, and this visit is closed, so it "
                                     "stays unscored",
                               "zh-CN": "检测时呼气模型不可用，且该就诊已结束，因此不再评分"},
    "not_scored": {"en": "not scored", "zh-CN": "未评分"},
    # A scored breath reading's provenance on the visit page: when its score was given (breath_readings.scored_at)
    # and by which breath model; a score given before schema migration 20 has no time on record.
    "scored_at": {"en": "Scored at", "zh-CN": "评分时间"},
    "scored_at_not_recorded": {"en": "not recorded", "zh-CN": "未记录"},
    "breath_model": {"en": "Breath model", "zh-CN": "呼气模型"},
    # A take that waits to be scored (edge.recordings.awaits_score) makes no site heard: the chest map,
    # the checklist and the risk agree, and the nurse is told why and what helps.
    "take_waiting_score": {"en": "Waiting to be scored: the crackle model was unavailable when this take was saved, "
                                 "so it does not count for its site yet. Calculate the risk again once the model is "
                                 "back (see /readyz): the take is scored then. Or record this site again.",
                           "zh-CN": "等待评分：保存此录音时爆裂音模型不可用，因此该部位暂不算已听诊。模型恢复后（见服务状态页 "
                                    "/readyz）请重新计算风险，届时此录音会被评分；或重新录制该部位。"},
    # The same take on a closed visit: nothing scores it any more (edge.patients.require_open_visit), so no
    # Calculate is offered; a new visit records the site.
    "take_waiting_score_closed": {"en": "Not scored: the crackle model was unavailable when this take was saved, and "
                                        "this visit is closed, so the take stays unscored and does not count for its "
                                        "site. Start a new visit of the patient to record this site again.",
                                  "zh-CN": "未评分：保存此录音时爆裂音模型不可用，且该就诊已结束，因此此录音不再评分，"
                                           "该部位不算已听诊。如需重新录制该部位，请开始新的就诊。"},
    "checklist_waiting_score": {"en": "A take is waiting to be scored: lung sounds are not done until it is.",
                                "zh-CN": "有录音等待评分：评分完成前，肺部听诊尚未完成。"},
    "breath_hint": {"en": "Take an e-nose reading with the board, or upload its export.",
                    "zh-CN": "用电子鼻设备采集，或上传其导出文件。"},
    "labs_hint": {"en": "Enter the latest CMP and CBC with the unit printed on the report.",
                  "zh-CN": "按化验单上的单位录入最近一次生化和血常规结果。"},
    "assess": {"en": "Calculate risk", "zh-CN": "计算风险"},
    "working": {"en": "Working…", "zh-CN": "正在处理…"},
    "risk": {"en": "ILD risk", "zh-CN": "间质性肺病风险"},
    "tier": {"en": "Tier", "zh-CN": "分级"},
    "tier_low": {"en": "Low", "zh-CN": "低"},
    "tier_intermediate": {"en": "Intermediate", "zh-CN": "中"},
    "tier_high": {"en": "High", "zh-CN": "高"},
    "tier_urgent": {"en": "Urgent", "zh-CN": "紧急"},
    "next_step": {"en": "Next step", "zh-CN": "下一步"},
    "contributions": {"en": "What drove the risk", "zh-CN": "风险构成"},
    "missing": {"en": "Not available (contributed nothing)", "zh-CN": "缺失（未计入）"},
    "modality_auscultation": {"en": "Lung sounds", "zh-CN": "肺部听诊"},
    "modality_breath": {"en": "Breath", "zh-CN": "呼气"},
    "modality_labs": {"en": "Blood tests", "zh-CN": "血液检查"},
    "clinical_prior": {"en": "Clinical picture (pre-test)", "zh-CN": "临床情况（检前）"},
    "red_flags": {"en": "Red flags", "zh-CN": "警示"},
    "refer": {"en": "Refer for HRCT", "zh-CN": "转诊做高分辨率 CT"},
    "referral": {"en": "Referral", "zh-CN": "转诊"},
    "referral_status": {"en": "Referral status", "zh-CN": "转诊状态"},
    "print_letter": {"en": "Print referral letter", "zh-CN": "打印转诊单"},
    "ct_results": {"en": "CT results", "zh-CN": "CT 结果"},
    "ild_extent_trend": {"en": "ILD extent on CT (hospital index, % of lung volume; not for clinical use)",
                         "zh-CN": "CT 间质性肺病范围（医院指数，占肺容积百分比；非临床用途）"},
    "ct_progression": {"en": "progression", "zh-CN": "进展"},
    "status_queued": {"en": "waiting to send", "zh-CN": "等待发送"},
    "status_retrying": {"en": "hospital unreachable, retrying", "zh-CN": "医院暂不可达，重试中"},
    "status_delivered": {"en": "received by the hospital", "zh-CN": "医院已接收"},
    "status_reported": {"en": "CT results received", "zh-CN": "已收到 CT 结果"},
    "status_rejected": {"en": "refused by the hospital", "zh-CN": "医院拒收"},
    "status_imaging_failed": {"en": "CT could not be measured", "zh-CN": "CT 无法测量"},
    "status_withdrawn": {"en": "withdrawn before it was sent", "zh-CN": "发送前已撤回"},
    "status_revoking": {"en": "withdrawn; telling the hospital", "zh-CN": "已撤回，正在通知医院"},
    "status_revoked": {"en": "withdrawn; the hospital has cancelled it", "zh-CN": "已撤回，医院已取消"},
    "discarded_takes": {"en": "Re-recorded (discarded)", "zh-CN": "已重录（弃用）"},
    "reading_kind_lung_sounds": {"en": "Lung sounds", "zh-CN": "肺部听诊"},
    "reading_kind_breath": {"en": "Breath", "zh-CN": "呼气"},
    "device_upload": {"en": "uploaded file or tablet microphone", "zh-CN": "上传文件或平板麦克风"},
    "withdraw_referral": {"en": "Withdraw referral", "zh-CN": "撤回转诊"},
    "revoke_referral": {"en": "Withdraw referral (the hospital is told)", "zh-CN": "撤回转诊（通知医院）"},
    "withdraw_reason": {"en": "Why it is withdrawn (optional)", "zh-CN": "撤回原因（可不填）"},
    "referral_reason_label": {"en": "Clinical reason for referring", "zh-CN": "转诊的临床理由"},
    "refer_against_advice": {"en": "The advice for this patient is not a CT scan.",
                             "zh-CN": "对该患者的建议不是做 CT。"},
    "refer_against_advice_hint": {
        "en": "Refer only if you have a clinical reason the screening did not capture (for example, new "
              "breathlessness). Write it below: it is printed on the letter and sent to the hospital.",
        "zh-CN": "只有在筛查未反映的临床理由下才转诊（例如新出现的气促）。请在下方填写：该理由会打印在转诊单上并发送给医院。"},
    "refer_anyway": {"en": "Refer for HRCT with this reason", "zh-CN": "按此理由转诊做高分辨率 CT"},
    "err_referral_reason": {"en": "Write the clinical reason for referring against the advice.",
                            "zh-CN": "请填写违背建议转诊的临床理由。"},
    "err_reason_too_long": {"en": "Not saved: the reason has {length} characters, at most {max}. Shorten it, then "
                                  "send it again.",
                            "zh-CN": "未保存：原因有 {length} 个字符，最多 {max} 个。请缩短后再提交。"},
    "letter_title": {"en": "Referral for high-resolution CT of the lungs", "zh-CN": "肺部高分辨率 CT 转诊单"},
    "referral_code": {"en": "Referral code", "zh-CN": "转诊编码"},
    "reason": {"en": "Reason: screening for interstitial lung disease (2023 ACR/CHEST guideline)",
               "zh-CN": "原因：间质性肺病筛查（2023 ACR/CHEST 指南）"},
    "letter_against_advice": {"en": "Referred against the screening advice, for the clinician's reason below.",
                              "zh-CN": "未按筛查建议转诊，理由为下方医生所述。"},
    "letter_outside_monitoring": {"en": "Referred outside the monitoring advice, for the clinician's reason below.",
                                  "zh-CN": "未按监测建议转诊，理由为下方医生所述。"},
    "devices": {"en": "Devices", "zh-CN": "设备"},
    "language": {"en": "中文", "zh-CN": "English"},
    "err_required": {"en": "Required.", "zh-CN": "必填。"},
    "err_code": {"en": "3–32 letters, digits or dashes; never a name or ID number.",
                 "zh-CN": "3–32 位字母、数字或短横线；不得使用姓名或证件号。"},
    "err_birth_year": {"en": "Enter a year between {low} and {high}.", "zh-CN": "请输入 {low} 至 {high} 之间的年份。"},
    "err_duplicate_code": {"en": "This code is already registered.", "zh-CN": "该编码已登记。"},
    # A form sent twice (double tap, Back and send again): said plainly, nothing stored twice.
    "already_registered": {"en": "This patient was already registered (the form was sent twice): no second record "
                                 "was made.",
                           "zh-CN": "该患者已登记（表单提交了两次）：未重复建档。"},
    "visit_continued": {"en": "This patient's visit today was already open: it continues here, no second visit was "
                              "started.",
                        "zh-CN": "该患者今天的就诊已开启：在此继续，未开始第二次就诊。"},
    "labs_already_saved": {"en": "These results were already saved: nothing was added twice.",
                           "zh-CN": "这些结果已保存：未重复添加。"},
    "unsaved_after_lock": {"en": "Typed before the tablet locked and not saved yet: check these values, then save.",
                           "zh-CN": "以下内容在平板锁定前输入，尚未保存：请核对后保存。"},
    "referral_already_sent": {"en": "This visit was already referred: the referral was not sent twice.",
                              "zh-CN": "本次就诊已转诊：未重复发送转诊。"},
    # A withdrawal sent as the referral moved on ({status}: what it is now); the typed reason stays below.
    "err_withdraw_too_late": {"en": "Not withdrawn: meanwhile the referral's status became \u201c{status}\u201d, and it "
                                    "can no longer be withdrawn here. Nothing was changed. If it must still be stopped, "
                                    "call the hospital; your reason is kept below.",
                              "zh-CN": "未撤回：此间转诊状态已变为\u201c{status}\u201d，无法在此撤回。未做任何更改。"
                                       "如仍需取消，请致电医院；您填写的原因保留在下方。"},
    "reason_kept": {"en": "Reason you typed", "zh-CN": "您填写的原因"},
    "referral_already_withdrawn": {"en": "This referral was already withdrawn: nothing more was sent.",
                                   "zh-CN": "该转诊已撤回：未再发送任何内容。"},
    "take_already_saved": {"en": "This take was already saved: it was not added twice.",
                           "zh-CN": "这段录音已保存：未重复添加。"},
    "err_patient_edited": {"en": "These details were changed in another tab or by a colleague since this form was "
                                  "opened: nothing was saved. The saved details are below; your changes are still in "
                                  "the form. Check them, then save again.",
                           "zh-CN": "自打开此表单后，这些信息已在另一标签页或由同事修改：本次未保存。已保存的信息列于下方；"
                                    "您的修改仍保留在表单中。请核对后再次保存。"},
    "err_patient_form_out_of_date": {"en": "This form is out of date: nothing was saved. The patient's details are "
                                            "reloaded below; enter the change again, then save.",
                                     "zh-CN": "此表单已过期：本次未保存。下方已重新载入该患者的信息；请重新输入修改后再保存。"},
    "err_finish_result_out_of_date": {
        "en": "The result is out of date (the result below says what changed since it was calculated), so the "
              "visit was not finished: press \u201cCalculate again\u201d, check the new result, then finish the visit.",
        "zh-CN": "结果已过期（下方结果处说明了计算后的变化），因此本次就诊未完成：请按“重新计算”，核对新结果后再完成就诊。"},
    "err_visit_edited": {"en": "This visit was changed by a colleague or another client since this page was opened: "
                                "nothing was saved. The visit is shown as saved now; check it, then finish or close "
                                "it again.",
                         "zh-CN": "自打开此页面后，本次就诊已由同事或其他客户端修改：本次未保存。下方为当前已保存的就诊；"
                                  "请核对后再次结束或关闭。"},
    "err_visit_form_out_of_date": {"en": "This page is out of date: nothing was saved. The visit is reloaded below; "
                                          "finish or close it again.",
                                   "zh-CN": "此页面已过期：本次未保存。下方已重新载入本次就诊；请再次结束或关闭。"},
    # edge.web.visit_views.visit_status: a post naming neither button's action (only a hand-made one does).
    "err_visit_action": {"en": "Nothing was saved: the request asked neither to finish the visit nor to close it. "
                                "Use the buttons of this page.",
                         "zh-CN": "本次未保存：该请求既不是完成就诊，也不是结束就诊。请使用本页面上的按钮。"},
    "take_already_discarded": {"en": "This take was already discarded: nothing more was removed.",
                               "zh-CN": "这段录音已弃用：未再删除任何内容。"},
    "err_invalid": {"en": "Check this value.", "zh-CN": "请检查此项。"},
    # A never-smoker with pack-years (edge.patients.check_smoking): either may be the one to correct.
    "err_pack_years_never": {"en": "Smoking says never, but pack-years are given: leave pack-years empty (or 0), or "
                                   "choose {former} or {current} smoking.",
                             "zh-CN": "吸烟选为从不，但填写了吸烟包年数：请将包年数留空（或填 0），或将吸烟选为“{former}”或“{current}”。"},
    "err_medications": {"en": "Plain medication names, 2–80 characters each.", "zh-CN": "药名需为 2–80 个普通字符。"},
    "err_number": {"en": "Enter a number.", "zh-CN": "请输入数字。"},
    "err_no_labs": {"en": "Enter at least one result.", "zh-CN": "请至少录入一项结果。"},
    # edge.web.visit_views.VALUE_MAX_CHARS: a longer value (pasted) is refused as typed, never cut.
    "err_lab_value_too_long": {"en": "Not saved: more than {max} characters. Enter the value as a number.",
                               "zh-CN": "未保存：超过 {max} 个字符。请以数字填写数值。"},
    # A form sent after its visit was closed (another tab): what was typed, since no form shows it.
    "values_kept": {"en": "Values you typed", "zh-CN": "您填写的数值"},
    # static/app.js: the autosave refused (a text over edge.patients.DRAFT_MAX_VALUE); the page says so.
    "err_draft_not_saved": {"en": "What you typed is not saved: a text is longer than {max} characters. Shorten it.",
                            "zh-CN": "您填写的内容未保存：有文字超过 {max} 个字符。请缩短。"},
    "err_lab_value": {"en": "Not possible in this unit: check the value and the unit.",
                      "zh-CN": "该单位下数值不可能：请核对数值和单位。"},
    "err_lab_unit": {"en": "Unusual in this unit: check the value and the unit.",
                     "zh-CN": "该单位下数值异常：请核对数值和单位。"},
    "err_lab_unit_low": {"en": "{value} {unit} is far below the reference range ({low}–{high} {unit}); {value} "
                               "{usual_unit} would be within or near it. Check the unit.",
                         "zh-CN": "{value} {unit} 远低于参考范围（{low}–{high} {unit}）；若为 {value} {usual_unit}，"
                                  "则在参考范围内或接近。请核对单位。"},
    "err_lab_unit_high": {"en": "{value} {unit} is far above the reference range ({low}–{high} {unit}); {value} "
                                "{usual_unit} would be within or near it. Check the unit.",
                          "zh-CN": "{value} {unit} 远高于参考范围（{low}–{high} {unit}）；若为 {value} {usual_unit}，"
                                   "则在参考范围内或接近。请核对单位。"},
    "confirm_unusual": {"en": "The value and unit are right", "zh-CN": "数值和单位无误"},
    "confirm_unusual_file": {"en": "The values and units above are right (choose the file again and import)",
                             "zh-CN": "以上数值和单位无误（请重新选择文件并导入）"},
    # A stored result that looked like a unit slip and was confirmed (lab_results.confirmed_unusual).
    "confirmed_unusual": {"en": "confirmed by the nurse as unusual", "zh-CN": "护士已确认此值异常但无误"},
    # A lab value entered again later: the result uses the newest one (edge.web.presenters.lab_rows).
    "lab_superseded": {"en": "replaced by a later value: not used", "zh-CN": "已被之后录入的数值取代，不再使用"},
    "save_labs": {"en": "Save blood results", "zh-CN": "保存血液结果"},
    "import_labs": {"en": "Or import a file (CSV, JSON or FHIR)", "zh-CN": "或导入文件（CSV、JSON 或 FHIR）"},
    "import": {"en": "Import", "zh-CN": "导入"},
    "stored_results": {"en": "Stored results", "zh-CN": "已保存结果"},
    "labs_probability": {"en": "Blood-test model", "zh-CN": "血液模型"},
    "missing_analytes": {"en": "Not measured", "zh-CN": "未检测"},
    "upload_breath": {"en": "Upload an e-nose export (CSV/JSON)", "zh-CN": "上传电子鼻导出文件（CSV/JSON）"},
    "capture_device": {"en": "Capture from the connected board", "zh-CN": "从已连接的设备采集"},
    "capture_device_stethoscope": {"en": "Record 20 s with the connected stethoscope", "zh-CN": "用已连接的听诊器录音 20 秒"},
    "capture_device_enose": {"en": "Run the breath test on the connected e-nose", "zh-CN": "用已连接的电子鼻做呼气检测"},
    "capture_heading_stethoscope": {"en": "Connected digital stethoscope", "zh-CN": "已连接的电子听诊器"},
    "capture_heading_enose": {"en": "Connected e-nose board", "zh-CN": "已连接的电子鼻设备"},
    "record_heading_microphone": {"en": "Tablet microphone (or a stethoscope plugged into the tablet)",
                                  "zh-CN": "平板麦克风（或插在平板上的听诊器）"},
    "board_number": {"en": "Board {number}", "zh-CN": "设备 {number}"},
    "quality_refused": {"en": "Not usable: this take is not counted.", "zh-CN": "无法使用：该次录音不计入。"},
    "value": {"en": "Value", "zh-CN": "数值"},
    "unit": {"en": "Unit", "zh-CN": "单位"},
    "analyte_wbc": {"en": "White blood cells", "zh-CN": "白细胞计数 (WBC)"},
    "analyte_rbc": {"en": "Red blood cells", "zh-CN": "红细胞计数 (RBC)"},
    "analyte_hgb": {"en": "Haemoglobin", "zh-CN": "血红蛋白 (Hb)"},
    "analyte_hct": {"en": "Haematocrit", "zh-CN": "红细胞压积 (HCT)"},
    "analyte_mcv": {"en": "Mean corpuscular volume", "zh-CN": "平均红细胞体积 (MCV)"},
    "analyte_platelets": {"en": "Platelets", "zh-CN": "血小板 (PLT)"},
    "analyte_rdw": {"en": "Red cell distribution width", "zh-CN": "红细胞分布宽度 (RDW)"},
    "analyte_neutrophils": {"en": "Neutrophils", "zh-CN": "中性粒细胞绝对值"},
    "analyte_lymphocytes": {"en": "Lymphocytes", "zh-CN": "淋巴细胞绝对值"},
    "analyte_monocytes": {"en": "Monocytes", "zh-CN": "单核细胞绝对值"},
    "analyte_eosinophils": {"en": "Eosinophils", "zh-CN": "嗜酸性粒细胞绝对值"},
    "analyte_sodium": {"en": "Sodium", "zh-CN": "钠 (Na)"},
    "analyte_potassium": {"en": "Potassium", "zh-CN": "钾 (K)"},
    "analyte_chloride": {"en": "Chloride", "zh-CN": "氯 (Cl)"},
    "analyte_bicarbonate": {"en": "Carbon dioxide, total", "zh-CN": "二氧化碳结合力 (CO2)"},
    "analyte_urea": {"en": "Urea", "zh-CN": "尿素"},
    "analyte_creatinine": {"en": "Creatinine", "zh-CN": "肌酐 (Cr)"},
    "analyte_glucose": {"en": "Glucose", "zh-CN": "葡萄糖 (Glu)"},
    "analyte_calcium": {"en": "Calcium", "zh-CN": "钙 (Ca)"},
    "analyte_total_protein": {"en": "Total protein", "zh-CN": "总蛋白 (TP)"},
    "analyte_albumin": {"en": "Albumin", "zh-CN": "白蛋白 (ALB)"},
    "analyte_bilirubin": {"en": "Bilirubin, total", "zh-CN": "总胆红素 (TBIL)"},
    "analyte_alp": {"en": "Alkaline phosphatase", "zh-CN": "碱性磷酸酶 (ALP)"},
    "analyte_ast": {"en": "Aspartate aminotransferase", "zh-CN": "天门冬氨酸氨基转移酶 (AST)"},
    "analyte_alt": {"en": "Alanine aminotransferase", "zh-CN": "丙氨酸氨基转移酶 (ALT)"},
    "analyte_ldh": {"en": "Lactate dehydrogenase", "zh-CN": "乳酸脱氢酶 (LDH)"},
    "analyte_crp": {"en": "C-reactive protein", "zh-CN": "C 反应蛋白 (CRP)"},
    "analyte_esr": {"en": "Erythrocyte sedimentation rate", "zh-CN": "红细胞沉降率 (ESR)"},
    "analyte_kl6": {"en": "KL-6", "zh-CN": "KL-6"},
    "connected": {"en": "connected", "zh-CN": "已连接"},
    "disconnected": {"en": "not connected", "zh-CN": "未连接"},
    "battery": {"en": "battery", "zh-CN": "电量"},
    "busy": {"en": "recording", "zh-CN": "采集中"},
    "no_devices": {"en": "No sensor boards registered (ILDSCREEN_DEVICE_PORTS).", "zh-CN": "未登记传感设备（ILDSCREEN_DEVICE_PORTS）。"},
    "notes": {"en": "Notes (no names or ID numbers)", "zh-CN": "备注（不得填写姓名或证件号）"},
    # Chest sites, posterior bases first.
    "site_posterior_left_base": {"en": "Posterior left base", "zh-CN": "左背部肺底"},
    "site_posterior_right_base": {"en": "Posterior right base", "zh-CN": "右背部肺底"},
    "site_lateral_left_base": {"en": "Lateral left base", "zh-CN": "左侧胸肺底"},
    "site_lateral_right_base": {"en": "Lateral right base", "zh-CN": "右侧胸肺底"},
    "site_posterior_left_mid": {"en": "Posterior left mid-zone", "zh-CN": "左背部中肺野"},
    "site_posterior_right_mid": {"en": "Posterior right mid-zone", "zh-CN": "右背部中肺野"},
    "site_posterior_left_upper": {"en": "Posterior left upper zone", "zh-CN": "左背部上肺野"},
    "site_posterior_right_upper": {"en": "Posterior right upper zone", "zh-CN": "右背部上肺野"},
    "site_anterior_left": {"en": "Anterior left", "zh-CN": "左前胸"},
    "site_anterior_right": {"en": "Anterior right", "zh-CN": "右前胸"},
    "site_trachea": {"en": "Trachea", "zh-CN": "气管"},
    "symptom_exertional_dyspnoea": {"en": "Breathless on exertion", "zh-CN": "活动后气短"},
    "symptom_rapidly_worsening_dyspnoea": {"en": "Breathlessness worsening over days to weeks",
                                           "zh-CN": "气短在数天至数周内加重"},
    "symptom_dry_cough": {"en": "Dry cough for more than 8 weeks", "zh-CN": "干咳超过 8 周"},
    "symptom_fatigue": {"en": "Fatigue", "zh-CN": "乏力"},
    "symptom_chest_pain": {"en": "Chest pain", "zh-CN": "胸痛"},
    "symptom_weight_loss": {"en": "Unintended weight loss", "zh-CN": "不明原因体重下降"},
    "symptom_finger_clubbing": {"en": "Finger clubbing", "zh-CN": "杵状指"},
    "symptom_mechanics_hands": {"en": "Mechanic's hands", "zh-CN": "技工手"},
    "symptom_raynaud": {"en": "Raynaud's phenomenon", "zh-CN": "雷诺现象"},
    "symptom_skin_ulcers": {"en": "Digital ulcers", "zh-CN": "指端溃疡"},
    # Advice (2023 ACR/CHEST; edge.fusion.triage.ADVICE): steps separated by "|".
    "advice_steps_hrct_pfts": {"en": "HRCT of the chest|PFTs (spirometry, lung volumes, DLCO)",
                               "zh-CN": "胸部高分辨率 CT（HRCT）|肺功能检查（肺通气、肺容积、弥散功能 DLCO）"},
    "advice_steps_discuss": {"en": "Discuss HRCT plus PFTs (spirometry, lung volumes, DLCO) with the "
                                   "rheumatologist|Re-screen in {months} months",
                             "zh-CN": "与风湿科医生讨论是否做 HRCT 和肺功能检查（肺通气、肺容积、DLCO）|{months} 个月后复筛"},
    "advice_steps_rescreen": {"en": "Re-screen in {months} months", "zh-CN": "{months} 个月后复筛"},
    # After a negative HRCT that still answers screening (edge.fusion.triage.negative_hrct).
    "advice_steps_pfts": {"en": "PFTs (spirometry, lung volumes, DLCO)|Review breathlessness and cough|HRCT again if "
                                "FVC or DLCO fall below the cut-off, symptoms appear or a red flag is found|Re-screen in "
                                "{months} months",
                          "zh-CN": "肺功能检查（肺通气、肺容积、弥散功能 DLCO）|询问气促和咳嗽情况|如 FVC 或 DLCO 低于界值、"
                                   "出现症状或发现警示征象，再次做 HRCT|{months} 个月后复筛"},
    "negative_hrct_note": {"en": "HRCT on {date} showed no ILD: it answers screening until {until}.",
                           "zh-CN": "{date} 的 HRCT 未见间质性肺病：在 {until} 之前可作为筛查的 HRCT。"},
    # anti-MDA5 answered by an HRCT read since it was on record (edge.fusion.triage.hrct_since_anti_mda5).
    "anti_mda5_hrct_note_absent": {"en": "anti-MDA5 is on record: the HRCT on {date}, read since, showed no ILD, so "
                                         "the antibody alone no longer asks for an urgent HRCT. Urgent again if "
                                         "breathlessness worsens quickly.",
                                   "zh-CN": "已记录抗 MDA5 阳性：此后 {date} 的 HRCT 未见间质性肺病，单凭该抗体不再需要紧急"
                                            " HRCT。如气促迅速加重，仍需紧急处理。"},
    # No "below": the letter prints the monitoring advice above its notes, the result page below them.
    "anti_mda5_hrct_note_present": {"en": "anti-MDA5 is on record: the HRCT on {date}, read since, showed ILD, so it "
                                          "is monitored instead of an urgent HRCT. Urgent again if breathlessness "
                                          "worsens quickly.",
                                    "zh-CN": "已记录抗 MDA5 阳性：此后 {date} 的 HRCT 显示间质性肺病，因此转为监测，不再需要"
                                             "紧急 HRCT。如气促迅速加重，仍需紧急处理。"},
    # A later HRCT without ILD after the read that confirmed it (edge.fusion.monitoring.discordant_hrct).
    "discordant_hrct_note": {"en": "The HRCT on {no_ild_on} read no ILD, but the HRCT on {ild_on} read ILD. Discuss "
                                   "both reads with the rheumatologist and the radiologist; monitoring goes on "
                                   "meanwhile.",
                             "zh-CN": "{no_ild_on} 的 HRCT 未见间质性肺病，但 {ild_on} 的 HRCT 显示有间质性肺病。请与风湿科"
                                      "医生和放射科医生讨论这两次结果；在此之前继续监测。"},
    # {symptoms}: the symptoms that may be ILD on record (edge.fusion.triage, review_symptoms).
    "symptom_review_note": {"en": "Symptoms that may be ILD now: {symptoms}. A clinician should review them now; do not "
                                  "wait for the next screen.",
                            "zh-CN": "目前有可能为间质性肺病的症状：{symptoms}。应由医生现在评估，不要等到下次筛查。"},
    # Confirmed ILD (edge.fusion.monitoring, 2023 ACR/CHEST Table 4).
    "advice_steps_monitoring": {"en": "PFTs (spirometry, lung volumes, DLCO) every 3–6 months in the first year for SSc "
                                      "and myositis, every 3–12 months for RA, Sjögren's and MCTD|Ambulatory "
                                      "desaturation test every 3–12 months|HRCT of the chest when clinically indicated",
                                "zh-CN": "肺功能检查（肺通气、肺容积、弥散功能）：系统性硬化症和肌炎第一年每 3–6 个月一次，"
                                         "类风湿关节炎、干燥综合征和混合性结缔组织病每 3–12 个月一次|每 3–12 个月做一次"
                                         "活动时血氧下降检查|有临床指征时做胸部 HRCT"},
    # The patient's own PFT interval (edge.fusion.monitoring.PFT_MONTHS: their CTD, first year or after).
    "monitoring_pft_every_first_year": {"en": "For this patient: PFTs every {every} months in the first year after "
                                              "ILD was confirmed",
                                        "zh-CN": "本患者：确诊间质性肺病后第一年每 {every} 个月做一次肺功能检查"},
    "monitoring_pft_every_later": {"en": "For this patient: PFTs every {every} months after the first year, once "
                                         "stable",
                                   "zh-CN": "本患者：第一年之后病情稳定时，每 {every} 个月做一次肺功能检查"},
    "guideline_monitoring": {"en": "ILD is confirmed: monitor it for progression.",
                             "zh-CN": "间质性肺病已确诊：监测其进展。"},
    "next_pft_due": {"en": "Next PFTs due between {start} and {end}", "zh-CN": "下次肺功能检查应在 {start} 至 {end} 之间"},
    # A clinician ended monitoring at this clinic (edge.monitoring_ends; edge.fusion.monitoring.ENDED): a
    # clinician's decision, not a guideline rule. Shown instead of the PFT interval and the due dates.
    "monitoring_end_reason_transferred": {"en": "care transferred to a hospital ILD clinic",
                                          "zh-CN": "已转至医院间质性肺病专科随访"},
    "monitoring_end_reason_mdt_no_ild": {"en": "a multidisciplinary team (MDT) ruled ILD out",
                                         "zh-CN": "多学科团队会诊已排除间质性肺病"},
    "monitoring_end_reason_died": {"en": "the patient died", "zh-CN": "患者已去世"},
    "monitoring_end_reason_declined": {"en": "the patient declined monitoring", "zh-CN": "患者拒绝监测"},
    "monitoring_end_reason_other": {"en": "another reason", "zh-CN": "其他原因"},
    "monitoring_ended_shown": {"en": "Monitoring here ended on {date}: {reason}. A clinician's decision, not a "
                                     "guideline rule: no PFT reminders.",
                               "zh-CN": "本机构的监测已于 {date} 结束：{reason}。这是医生的决定，而非指南规定：不再提醒"
                                        "肺功能检查。"},
    "advice_steps_monitoring_ended": {"en": "A clinician reviews any new concern before further tests are arranged",
                                      "zh-CN": "如有新的问题，先由医生评估，再安排进一步检查"},
    "guideline_monitoring_ended": {"en": "Confirmed ILD; monitoring at this clinic ended by a clinician's decision.",
                                   "zh-CN": "间质性肺病已确诊；本机构的监测已由医生决定结束。"},
    # An MDT ruled ILD out (edge.fusion.monitoring.mdt_sentence): screening advice applies again, and says why.
    "monitoring_mdt_note": {"en": "Monitoring was ended on {date} because a multidisciplinary team (MDT) ruled ILD "
                                  "out, a clinician's decision: screening advice applies again.",
                            "zh-CN": "由于多学科团队会诊已排除间质性肺病，监测已于 {date} 结束（医生的决定）：重新适用"
                                     "筛查建议。"},
    # The patient page's monitoring card (clinicians end or resume; everyone reads).
    "monitoring_card": {"en": "ILD monitoring", "zh-CN": "间质性肺病监测"},
    "monitoring_active": {"en": "ILD confirmed on {date}: the patient is on the monitoring pathway.",
                          "zh-CN": "间质性肺病于 {date} 确诊：患者处于监测路径。"},
    "monitoring_end_legend": {"en": "Record that monitoring ended at this clinic",
                              "zh-CN": "记录本机构的监测已结束"},
    "monitoring_end_date": {"en": "Date monitoring ended", "zh-CN": "监测结束日期"},
    "monitoring_end_reason": {"en": "Reason", "zh-CN": "原因"},
    "monitoring_end_note": {"en": "Note (required for another reason; one line, no names)",
                            "zh-CN": "备注（其他原因时必填；一行，不写姓名）"},
    "monitoring_end_save": {"en": "Record the end of monitoring", "zh-CN": "记录监测结束"},
    "monitoring_end_hint": {"en": "Only an MDT that ruled ILD out sends the patient back to screening; for the other "
                                  "reasons ILD stays known and a new concern goes to a clinician.",
                            "zh-CN": "只有多学科团队排除间质性肺病时，患者才回到筛查；其他原因下间质性肺病仍视为已知，"
                                     "新的问题交由医生评估。"},
    "monitoring_resume": {"en": "Resume monitoring", "zh-CN": "恢复监测"},
    "monitoring_ended_saved": {"en": "The end of monitoring was recorded.", "zh-CN": "已记录监测结束。"},
    "monitoring_already_ended": {"en": "Monitoring was already ended: nothing was recorded twice.",
                                 "zh-CN": "监测此前已结束：未重复记录。"},
    "monitoring_resumed_saved": {"en": "Monitoring resumed.", "zh-CN": "已恢复监测。"},
    "monitoring_already_resumed": {"en": "Monitoring was already resumed: nothing more was changed.",
                                   "zh-CN": "监测此前已恢复：未做其他更改。"},
    "err_monitoring_role": {"en": "Only a clinician can end or resume monitoring.",
                            "zh-CN": "只有医生可以结束或恢复监测。"},
    "err_monitoring_end_date": {"en": "Give the date monitoring ended: not in the future, not before ILD was "
                                      "confirmed.",
                                "zh-CN": "请填写监测结束日期：不能晚于今天，也不能早于间质性肺病确诊日期。"},
    "err_monitoring_end_reason": {"en": "Choose a reason.", "zh-CN": "请选择原因。"},
    # {max}: edge.vocabulary.MONITORING_END_NOTE_MAX, the limit edge.monitoring_ends.checked_note enforces.
    "err_monitoring_end_note": {"en": "For another reason, say why in the note: one line of at most {max} characters.",
                                "zh-CN": "选择其他原因时，请在备注中说明：一行，最多 {max} 个字符。"},
    "priority": {"en": "Priority", "zh-CN": "优先级"},
    "priority_urgent": {"en": "Urgent: this week, tell the rheumatologist today",
                        "zh-CN": "紧急：本周内完成，今天通知风湿科医生"},
    "priority_within_3_months": {"en": "Within 3 months", "zh-CN": "3 个月内"},
    "priority_routine": {"en": "Routine", "zh-CN": "常规"},
    "guideline": {"en": "Guideline (2023 ACR/CHEST)", "zh-CN": "指南（2023 ACR/CHEST）"},
    "guideline_ssc": {"en": "Systemic sclerosis is at increased risk of ILD: screen with HRCT and PFTs.",
                      "zh-CN": "系统性硬化症属于间质性肺病高风险：应做 HRCT 和肺功能筛查。"},
    "guideline_iim": {"en": "Inflammatory myopathy is at increased risk of ILD: screen with HRCT and PFTs.",
                      "zh-CN": "炎性肌病属于间质性肺病高风险：应做 HRCT 和肺功能筛查。"},
    "guideline_mctd": {"en": "Mixed connective-tissue disease is at increased risk of ILD: screen with HRCT and PFTs.",
                       "zh-CN": "混合性结缔组织病属于间质性肺病高风险：应做 HRCT 和肺功能筛查。"},
    "guideline_ra_risk": {"en": "Rheumatoid arthritis with an ILD risk factor: screen with HRCT and PFTs.",
                          "zh-CN": "类风湿关节炎且有间质性肺病危险因素：应做 HRCT 和肺功能筛查。"},
    "guideline_sjd_risk": {"en": "Sjögren's disease with an ILD risk factor: screen with HRCT and PFTs.",
                           "zh-CN": "干燥综合征且有间质性肺病危险因素：应做 HRCT 和肺功能筛查。"},
    # The Table 2 factors that selected the line (edge.web.presenters.risk_factor_lines): antibodies and
    # symptoms keep their own words (antibody_*, symptom_*); measured ones say what was measured.
    "risk_factors_on_record": {"en": "Risk factors on record", "zh-CN": "已记录的危险因素"},
    "risk_factor_male": {"en": "Male sex", "zh-CN": "男性"},
    "risk_factor_ever_smoker": {"en": "Smoker, now or before", "zh-CN": "目前或曾经吸烟"},
    "risk_factor_lymphopenia": {"en": "Lymphocytes {value} ×10⁹/L on this visit's blood count (lymphopenia: below "
                                      "{cutoff})",
                                "zh-CN": "本次就诊血常规淋巴细胞 {value} ×10⁹/L（淋巴细胞减少：低于 {cutoff}）"},
    # An earlier visit's blood count (setting triage_lymphopenia_lookback_months), named with its date.
    "risk_factor_lymphopenia_dated": {"en": "Lymphocytes {value} ×10⁹/L on the blood count of {date} (lymphopenia: "
                                            "below {cutoff})",
                                      "zh-CN": "{date} 血常规淋巴细胞 {value} ×10⁹/L（淋巴细胞减少：低于 {cutoff}）"},
    "risk_factor_older_age": {"en": "Age {value} (older age: {cutoff} or more)",
                              "zh-CN": "年龄 {value} 岁（高龄：{cutoff} 岁及以上）"},
    "guideline_ra_symptoms": {"en": "Rheumatoid arthritis with symptoms or signs that may be ILD: test with HRCT and "
                                    "PFTs.",
                              "zh-CN": "类风湿关节炎且有可能为间质性肺病的症状或体征：应做 HRCT 和肺功能检查。"},
    "guideline_sjd_symptoms": {"en": "Sjögren's disease with symptoms or signs that may be ILD: test with HRCT and "
                                     "PFTs.",
                               "zh-CN": "干燥综合征且有可能为间质性肺病的症状或体征：应做 HRCT 和肺功能检查。"},
    "guideline_none": {"en": "No guideline screening line covers this patient: the risk score decides.",
                       "zh-CN": "指南的筛查建议不涵盖此患者：由风险评分决定。"},
    # A CTD suspected, diagnosis not yet established (edge.fusion.triage.UNDETERMINED_LINE).
    "guideline_undetermined": {"en": "Diagnosis not yet established: complete the rheumatology work-up. Once it names "
                                     "the disease, the guideline screens systemic sclerosis, myositis and MCTD, and "
                                     "RA or Sjögren's disease with a risk factor or symptoms, with HRCT and PFTs; until "
                                     "then the risk score decides.",
                               "zh-CN": "诊断尚未确立：请先完成风湿科检查。确诊后，指南建议对系统性硬化症、肌炎和混合性结缔组织病，"
                                        "以及有危险因素或症状的类风湿关节炎或干燥综合征，做 HRCT 和肺功能筛查；在此之前由风险评分决定。"},
    "advice_step_workup": {"en": "Complete the rheumatology work-up to establish the diagnosis",
                           "zh-CN": "完成风湿科检查，明确诊断"},
    "diagnosis_undetermined_notice": {"en": "Diagnosis not yet established. This result does not treat the patient as "
                                            "having any particular disease: ask the rheumatologist to complete the "
                                            "work-up, then screen again.",
                                      "zh-CN": "诊断尚未确立。本结果不把患者当作患有任何一种特定疾病：请风湿科医生完成检查后再次筛查。"},
    # Both uncertainties in one sentence (edge.fusion.fusion): the interval, then what missing tests could change.
    "uncertainty_interval": {"en": "We are 90% sure the risk is between {low}% and {high}%. It is a range, not one "
                                   "number, because what it is built on (published studies, our own assumptions) is "
                                   "not known exactly.",
                             "zh-CN": "我们有 90% 的把握认为风险在 {low}% 到 {high}% 之间。之所以是一个范围而不是一个数，"
                                      "是因为它所依据的内容（已发表的研究、我们自己的假设）并不完全确定。"},
    "uncertainty_both": {"en": "We are 90% sure the risk is between {low}% and {high}%. It is a range, not one "
                               "number, because what it is built on (published studies, our own assumptions) is not "
                               "known exactly. The tests not done yet could still move it anywhere from "
                               "{missing_low}% to {missing_high}%.",
                         "zh-CN": "我们有 90% 的把握认为风险在 {low}% 到 {high}% 之间。之所以是一个范围而不是一个数，"
                                  "是因为它所依据的内容（已发表的研究、我们自己的假设）并不完全确定。"
                                  "尚未做的检查仍可能使风险在 {missing_low}% 到 {missing_high}% 之间变化。"},
    # Why a modality is measured but not counted (edge.fusion.evidence.REASON_CODES), per modality.
    "not_counted_line": {"en": "{modality}: measured, not yet counted — {reason}.",
                         "zh-CN": "{modality}：已测量、尚未计入——{reason}。"},
    "not_counted_synthetic": {"en": "its model learned only from made-up (synthetic) data and has not been "
                                    "tested on patients",
                              "zh-CN": "其模型只用模拟（合成）数据训练，尚未在患者中检验"},
    "not_counted_no_patient_validation": {"en": "it has not yet been tested on adult patients",
                                          "zh-CN": "尚未在成年患者中检验"},
    "not_counted_too_few": {"en": "it has been tested on too few patients so far",
                            "zh-CN": "目前检验过的患者太少"},
    "not_counted_uncertain": {"en": "how well it works is still too uncertain",
                              "zh-CN": "其效果仍然太不确定"},
    # edge.fusion.evidence.detector_validation: the takes' stethoscopes were tested in different groups of
    # adults, or the takes name none and the model was tested in several. What to do about it is its own sentence
    # (not_counted_record_again_*), said to the nurse of an open visit only (edge.web.presenters.
    # lung_sound_advice_given): a closed visit's result and the referral letter say what happened.
    "not_counted_mixed_populations": {"en": "the takes were recorded through stethoscopes tested on different "
                                            "groups of patients, whose results cannot be combined",
                                      "zh-CN": "这些录音所用的听诊器在不同的患者群体中检验，其结果不能合并"},
    "not_counted_record_again_mixed_populations": {"en": "Record the sites again through one of those stethoscopes.",
                                                   "zh-CN": "请用其中一种听诊器重新录制这些部位。"},
    "not_counted_population_not_stated": {"en": "the takes do not say which stethoscope recorded them, and the "
                                                "model was tested on more than one",
                                          "zh-CN": "这些录音未注明所用的听诊器，而该模型在不止一种听诊器上检验过"},
    "not_counted_record_again_population_not_stated": {"en": "Record the sites again, naming the stethoscope.",
                                                       "zh-CN": "请注明听诊器后重新录制这些部位。"},
    # edge.fusion.evidence.device_weakness (h107): a take is judged by its own device's figures (the manifest's
    # by_device) when its adult population passes the validation rule; these name why that device's do not.
    "not_counted_device_too_few": {"en": "the takes went through a stethoscope or chest piece on which the model "
                                         "has been tested on too few patients so far",
                                   "zh-CN": "这些录音所用的听诊器或听诊头上，模型目前检验过的患者太少"},
    "not_counted_device_uncertain": {"en": "the takes went through a stethoscope or chest piece on which the model "
                                           "did no better than chance on patients",
                                     "zh-CN": "这些录音所用的听诊器或听诊头上，模型在患者中的表现不比随机更好"},
    "not_counted_record_again_device_too_few": {"en": "Record the sites again through another chest piece the model "
                                                      "was validated on.",
                                                "zh-CN": "请用模型验证过的其他听诊头重新录制这些部位。"},
    "not_counted_record_again_device_uncertain": {"en": "Record the sites again through another chest piece the model "
                                                        "was validated on.",
                                                  "zh-CN": "请用模型验证过的其他听诊头重新录制这些部位。"},
    "stethoscope_device_why_device_too_few": {"en": "the model has been tested on too few patients",
                                              "zh-CN": "模型检验过的患者太少"},
    "stethoscope_device_why_device_uncertain": {"en": "the model did no better than chance on patients",
                                                "zh-CN": "模型在患者中的表现不比随机更好"},
    # Before the statement (its figures read "validated"), for a validated take whose own device's figures fail
    # the rule (device_counts False); then what to record through (record_again_*), then the figures.
    "stethoscope_device_does_not_count": {"en": "This take does not count: through {device} alone, {why}, so it does "
                                                "not make its site heard and does not change the risk.",
                                          "zh-CN": "本次录音不计入：仅就 {device} 而言，{why}，因此它不能使该部位算作已听诊，"
                                                   "也不改变风险。"},
    # {devices}: the population's devices whose own figures pass the rule (edge.auscultation.devices_counting).
    "record_again_through_one": {"en": "Record this site again through a stethoscope and chest piece that count: "
                                       "{devices}.",
                                 "zh-CN": "请用计入的听诊器和听诊头重新录制此部位：{devices}。"},
    "record_again_through_several": {"en": "Record these sites again through a stethoscope and chest piece that "
                                           "count: {devices}.",
                                     "zh-CN": "请用计入的听诊器和听诊头重新录制这些部位：{devices}。"},
    "record_again_none_counts_one": {"en": "No stethoscope or chest piece the model was validated on counts yet, so "
                                           "recording this site again will not make it heard.",
                                     "zh-CN": "目前模型验证过的听诊器或听诊头均不计入，因此重新录制也不能使此部位算作已听诊。"},
    "record_again_none_counts_several": {"en": "No stethoscope or chest piece the model was validated on counts yet, "
                                               "so recording these sites again will not make them heard.",
                                         "zh-CN": "目前模型验证过的听诊器或听诊头均不计入，因此重新录制也不能使这些部位算作已听诊。"},
    # edge.fusion.evidence.unscorable_evidence: the served model cannot score what was stored (a breath
    # reading's features, after a model update that takes other features). The reading's own line on the visit
    # page says the same words (edge.breath.why_unscored ``not_scorable``).
    "not_counted_not_scorable": {"en": "the model now in use cannot score this reading",
                                 "zh-CN": "当前使用的模型无法为此次检测评分"},
    # What the nurse of an open visit can do about it (edge.web.presenters.not_counted_text; the reading's own line
    # on the visit page): never said on a closed visit, which is a record and takes no new reading.
    "not_counted_record_again_not_scorable": {"en": "Take the breath reading again.",
                                              "zh-CN": "请重新进行呼气检测。"},
    # The reading's own line on an open visit's page: the result's reason (not_counted_not_scorable), then what to do.
    "breath_not_scorable_take_again": {"en": "{reason}; take it again", "zh-CN": "{reason}，请重新检测"},
    # An unvalidated modality (edge.fusion.evidence): measured, shown, but not moving the risk.
    "uncertainty_not_counted": {"en": "Measured, not yet counted: {names} (not yet shown to work for patients "
                                      "like this one, so they do not change the risk).",
                                "zh-CN": "已测量、尚未计入：{names}（尚未证明对此类患者有效，因此不改变风险）。"},
    # The figures the lung sounds counted with (edge.auscultation.adult_validation), with whose adults they are
    # (adult_population_*): KAUH's crackles came from heart failure and other lung diseases, a clinic folder's
    # are whatever its clinician heard.
    "crackle_model_adults": {"en": "Lung-sound model: on {patients} "
                                   "adults it never saw ({positive} with crackles){through} it found crackles in "
                                   "{sensitivity}% (95% CI {sensitivity_low}-{sensitivity_high}) of those who had them "
                                   "and called {specificity}% ({specificity_low}-{specificity_high}) of the others "
                                   "clear. Those adults were {population}: it is not validated in people with ILD.",
                             "zh-CN": "肺音模型：在 {patients} 名模型从未见过的成人中（{positive} 名有爆裂音）{through}，"
                                      "有爆裂音者中 {sensitivity}%（95% 置信区间 {sensitivity_low}–{sensitivity_high}）被检出，"
                                      "无爆裂音者中 {specificity}%（{specificity_low}–{specificity_high}）被判为无。"
                                      "这些成人是{population}：尚未在间质性肺病患者中验证。"},
    "crackle_model_through_device": {"en": ", over their recordings through {device} alone,",
                                     "zh-CN": "，仅按其经 {device} 的录音计"},
    # figures_over weakest_device (h117): the exam's takes went through several chest pieces with figures of their
    # own, and counted with the one whose figures give the finding the least weight (docs/evidence.md, Per device).
    "crackle_model_through_weakest_device": {
        "en": ", over their recordings through {device} alone (of the chest pieces this visit's takes went "
              "through, the one whose results give its finding the least weight),",
        "zh-CN": "，仅按其经 {device} 的录音计（本次就诊录音所用听诊头中，其结果使本次所见权重最小者）"},
    # Whose adults a crackle model's figures are over, by the manifest's population key (adults: KAUH's,
    # audio_models.export.POPULATION_DATASETS; adults_<folder>: a labelled folder's, labelled_population_datasets).
    "adult_population_adults": {"en": "patients of King Abdullah University Hospital, Jordan (KAUH), whose crackles "
                                      "came from heart failure and other lung diseases",
                                "zh-CN": "约旦阿卜杜拉国王大学医院（KAUH）的患者，其爆裂音来自心力衰竭等其他肺部疾病"},
    "adult_population_folder": {"en": "patients of a clinic, from its own labelled takes (folder {folder}): a "
                                      "clinician labelled each take as crackles heard or not, whatever their cause",
                                "zh-CN": "某诊所的患者，取自其自己标注的录音（文件夹 {folder}）：每条录音由临床医生标注是否听到爆裂音，不论病因"},
    "adult_population_other": {"en": "adults the model's manifest does not describe",
                               "zh-CN": "模型清单未描述的成人"},
    "crackle_model_no_adults": {"en": "The lung-sound model has not been validated on adults; it is not validated in "
                                      "people with ILD.",
                                "zh-CN": "肺音模型尚未在成人中验证，也未在间质性肺病患者中验证。"},
    # The same adults' figures per device (validation.populations.<population>.by_device, issue 24): pooled
    # figures hide a chest piece that misses most crackles (KAUH's bell found none of 3). {devices}: each
    # stethoscope with crackle_model_found per chest piece; then which device to record through, when one
    # found fewer than another (edge.auscultation.record_through).
    "crackle_model_by_device": {"en": "Of those adults with crackles, each chest piece alone found: {devices}.",
                                "zh-CN": "在这些有爆裂音的成人中，各听诊头单独检出：{devices}。"},
    "crackle_model_found": {"en": "{found} of {positive}", "zh-CN": "{positive} 名中 {found} 名"},
    "crackle_model_record_through": {"en": "Record through {device}.", "zh-CN": "请用 {device} 录音。"},
    # The crackle model's caveats (its manifest's validation_status.caveats, issue 24): what its statement says of
    # the test adults that their figures alone do not. Each code is audio_models.export.CAVEAT_CODES's, and every
    # number is the one the export measured and wrote beside it (audio_models.export.validation_caveats; the README
    # there says where each comes from); {devices}: the devices its figures were measured through together
    # (edge.web.presenters.validated_devices). A code this catalogue lacks: the page shows the manifest's English
    # statement (crackle_model_statement_english), never nothing.
    "crackle_model_caveats": {"en": "What these figures do not show:", "zh-CN": "这些数据未能反映的情况："},
    "crackle_caveat_test_seen_before_input_noise": {
        "en": "The {patients} test adults ({positive} with crackles) had been scored with added noise before the "
              "adults' input noise was chosen, so their figures are not a clean test of it.",
        "zh-CN": "这 {patients} 名测试成人（{positive} 名有爆裂音）在选定成人输入噪声之前已被加噪评分过，"
                 "因此其结果并非对该噪声的干净检验。"},
    "crackle_caveat_crackles_against_normal_breathing": {
        "en": "Against adults' recordings with no other sound (no wheeze), through {devices} together, its AUC was "
              "{auc} (95% CI {auc_low}-{auc_high}; {patients} patients without crackles).",
        "zh-CN": "与无其他声音（无哮鸣音）的成人录音相比，经 {devices} 合计，AUC 为 {auc}"
                 "（95% 置信区间 {auc_low}–{auc_high}；{patients} 名无爆裂音者）。"},
    "crackle_caveat_crackles_against_normal_breathing_wheeze": {
        "en": "That is below its {wheeze_auc} against wheezes: in adults it tells crackles from wheezes better than "
              "from normal breathing.",
        "zh-CN": "低于与哮鸣音相比的 {wheeze_auc}：在成人中，它区分爆裂音与哮鸣音优于区分爆裂音与正常呼吸音。"},
    "crackle_caveat_input_noise_may_hide_crackles": {
        "en": "Adults' recordings are scored with white noise {snr_db} dB below their level added: it hides faint "
              "sounds of normal chests that the model took for crackles, and may hide faint crackles too.",
        "zh-CN": "成人录音评分时加入比其音量低 {snr_db} 分贝的白噪声：它能掩盖模型曾误判为爆裂音的正常胸部微弱声音，"
                 "也可能掩盖微弱的爆裂音。"},
    "crackle_caveat_input_noise_may_hide_crackles_icbhi": {
        "en": "Of {with_crackles} adult recording(s) with crackles from another data set (ICBHI), it found {found}.",
        "zh-CN": "在另一数据集（ICBHI）中 {with_crackles} 条有爆裂音的成人录音里，它检出 {found} 条。"},
    "crackle_model_statement_english": {"en": "The model's own statement:", "zh-CN": "模型自身的说明（英文）："},
    "interval": {"en": "90% interval", "zh-CN": "90% 区间"},
    "validation_note": {"en": "Not validated for clinical use: the risk model and the models it uses have not been "
                              "validated on patients. Treat the risk as a research estimate.",
                        "zh-CN": "未经临床验证：风险模型及其所用模型尚未在患者中验证。请将风险视为研究性估计。"},
    "crackle_basal": {"en": "crackles at a lung base", "zh-CN": "肺底可闻及爆裂音"},
    "crackle_other_sites": {"en": "crackles away from the bases only", "zh-CN": "仅肺底以外部位有爆裂音"},
    # Only sites with a usable take: a refused take or an unrecorded site is never "no crackles".
    "crackle_none": {"en": "no crackles at the sites with a usable recording",
                     "zh-CN": "有可用录音的部位未闻及爆裂音"},
    # The result's lung-sound line (edge.web.presenters.lung_sounds): finding, sites heard, counted or not. With no
    # site heard (edge.web.presenters.not_heard_text): lung_sounds_none_heard, then a sentence per reason the takes
    # give (edge.modalities.why_not_heard), or lung_sounds_no_usable when every take was refused.
    "lung_sound_finding": {"en": "Lung sounds: {finding} (heard at: {sites}).",
                           "zh-CN": "肺部听诊：{finding}（听到的部位：{sites}）。"},
    "lung_sounds_no_usable": {"en": "Lung sounds: no usable recording. Every take was refused by the quality check, "
                                    "so nothing was heard and this step is still to do.",
                              "zh-CN": "肺部听诊：没有可用录音。所有录音均未通过质量检查，因此什么也没有听到，此步骤仍待完成。"},
    "lung_sounds_none_heard": {"en": "Lung sounds: no site heard yet, so this step is still to do.",
                               "zh-CN": "肺部听诊：尚无已听诊的部位，因此此步骤仍待完成。"},
    # Clear takes through a piece in evidence_chest_pieces_cannot_clear (edge.modalities.counts_for_its_site):
    # through the bell the detector found 1 of 9 KAUH adults with crackles over all 37 KAUH adults (22 of them chose
    # the threshold), 0 of 3 on the 15 test adults alone (docs/evidence.md, model 0.6.0). Followed by
    # record_again_*_several on an open visit (edge.web.presenters.not_heard_text). {pieces}: those takes' own pieces.
    "lung_sounds_cannot_clear": {"en": "The takes that found no crackles went through a chest piece through which "
                                       "the crackle detector misses most crackles ({pieces}): this does not rule "
                                       "crackles out.",
                                 "zh-CN": "未发现爆裂音的录音所用听诊头（{pieces}）会使爆裂音检测器漏掉大部分爆裂音：此结果不能排除爆裂音。"},
    # Takes through a stethoscope or chest piece the validation never went through, or one the programme requires
    # to be named (edge.modalities.stethoscope_counts).
    "lung_sounds_stethoscope_not_validated": {
        "en": "Takes went through a stethoscope or chest piece the crackle model was not validated on, so they do not "
              "count.",
        "zh-CN": "部分录音所用的听诊器或听诊头未经爆裂音模型验证，因此不计入。"},
    # What to do about them, on an open visit only.
    "lung_sounds_stethoscope_record_again": {
        "en": "Record the lung sounds again through a validated stethoscope (each take says which).",
        "zh-CN": "请用经验证的听诊器重新录制肺部听诊（每条录音下注明了可用的听诊器）。"},
    # Takes through a device whose own figures fail the validation rule (edge.fusion.evidence.device_weakness);
    # {why}: stethoscope_device_why_*. Followed by record_again_*_several.
    "lung_sounds_device_not_counted": {"en": "The takes through {device} do not count: through it alone, {why}.",
                                       "zh-CN": "经 {device} 的录音不计入：仅就该设备而言，{why}。"},
    "lung_sounds_waiting_score": {"en": "A take is waiting to be scored (the crackle model was unavailable). Calculate "
                                        "the risk again once the model is back (see /readyz), or record the lung "
                                        "sounds again.",
                                  "zh-CN": "有录音等待评分（爆裂音模型不可用）。模型恢复后（见服务状态页 /readyz）请重新计算风险，"
                                           "或重新录制肺部听诊。"},
    "lung_sounds_some_refused": {"en": "Other takes were refused by the quality check.",
                                 "zh-CN": "其他录音未通过质量检查。"},
    # A closed visit's line is its record (edge.web.presenters.not_heard_text): nothing records or scores its
    # takes any more (edge.patients.require_open_visit), so no Calculate and no "record again"; each reason is
    # said as a fact, and the nurse's line ends with lung_sounds_closed_new_visit. The referral letter's (read by
    # the hospital) says the same facts, whatever the visit's status, and no more.
    "lung_sounds_no_usable_closed": {"en": "Lung sounds: no usable recording. Every take was refused by the quality "
                                           "check, so nothing was heard at this visit.",
                                     "zh-CN": "肺部听诊：没有可用录音。所有录音均未通过质量检查，因此本次就诊什么也没有听到。"},
    "lung_sounds_none_heard_closed": {"en": "Lung sounds: no site was heard at this visit.",
                                      "zh-CN": "肺部听诊：本次就诊没有已听诊的部位。"},
    "lung_sounds_waiting_score_closed": {"en": "A take was saved while the crackle model was unavailable, and this "
                                               "visit is closed, so it stays unscored.",
                                         "zh-CN": "有录音保存时爆裂音模型不可用，且该就诊已结束，因此该录音不再评分。"},
    # The referral letter's, on a visit still open: the hospital is told what the result was calculated
    # without, not what the clinic may do (edge.web.presenters.not_heard_text, reader "hospital").
    "lung_sounds_waiting_score_unscored": {"en": "A take was saved while the crackle model was unavailable, so it was "
                                                 "not scored.",
                                           "zh-CN": "有录音保存时爆裂音模型不可用，因此该录音未评分。"},
    "lung_sounds_closed_new_visit": {"en": "This visit is closed: a new visit of the patient records the lung sounds "
                                           "again.",
                                     "zh-CN": "该就诊已结束：如需重新录制肺部听诊，请开始患者的新就诊。"},
    "lung_sounds_not_counted": {"en": "Measured, not yet counted: {reason}, so it did not change the risk.",
                                "zh-CN": "已测量、尚未计入：{reason}，因此未改变风险。"},
    "exam_incomplete": {"en": "Incomplete lung-sound exam: {sites} not heard (no usable recording). No crackles "
                              "elsewhere does not rule out crackles at the lung bases: record these sites again "
                              "before relying on this result.",
                        "zh-CN": "肺部听诊不完整：{sites}未听到（没有可用录音）。其他部位未闻及爆裂音并不能排除肺底爆裂音："
                                 "请先重新录这些部位，再依据本结果。"},
    # The same on a closed visit (edge.web.presenters.exam_incomplete_text): its record, nothing to record again.
    "exam_incomplete_closed": {"en": "Incomplete lung-sound exam: {sites} not heard at this visit (no usable "
                                     "recording). No crackles elsewhere does not rule out crackles at the lung bases.",
                               "zh-CN": "肺部听诊不完整：本次就诊{sites}未听到（没有可用录音）。其他部位未闻及爆裂音并不能排除肺底爆裂音。"},
    "crackle_not_validated": {"en": "crackle detector not validated: not counted", "zh-CN": "爆裂音检测器未经验证：未计入"},
    "not_confirming": {"en": "A chest X-ray, 6-minute walk test or pulse oximetry cannot rule out ILD: use HRCT and PFTs.",
                       "zh-CN": "胸片、6 分钟步行试验或指脉氧不能排除间质性肺病：请用 HRCT 和肺功能检查。"},
    "flag_anti_mda5_rapid_dyspnoea": {"en": "anti-MDA5 with rapidly worsening breathlessness: risk of rapidly "
                                            "progressive ILD",
                                      "zh-CN": "抗 MDA5 阳性且气短迅速加重：有快速进展性间质性肺病风险"},
    "flag_rapid_dyspnoea": {"en": "Breathlessness worsening over days to weeks",
                            "zh-CN": "气短在数天至数周内加重"},
    "flag_anti_mda5": {"en": "anti-MDA5: risk of rapidly progressive ILD", "zh-CN": "抗 MDA5 阳性：有快速进展性间质性肺病风险"},
    # {cutoff}: the programme's setting triage_pft_abnormal_below (edge.fusion.triage.RED_FLAGS).
    "flag_low_fvc": {"en": "FVC below {cutoff:g}% predicted", "zh-CN": "FVC 低于预计值 {cutoff:g}%"},
    "flag_low_dlco": {"en": "DLCO below {cutoff:g}% predicted", "zh-CN": "DLCO 低于预计值 {cutoff:g}%"},
    # Programme dashboard and outcomes (issue 17)
    "dashboard": {"en": "Programme dashboard", "zh-CN": "筛查项目看板"},
    "dashboard_roles": {"en": "The programme dashboard is for clinicians and admins.",
                        "zh-CN": "筛查项目看板仅供医生和管理员使用。"},
    "export_csv": {"en": "Export CSV", "zh-CN": "导出 CSV"},
    "export_html": {"en": "Export HTML report", "zh-CN": "导出 HTML 报告"},
    "screened": {"en": "Patients screened", "zh-CN": "已筛查患者"},
    "visits_assessed": {"en": "visits assessed", "zh-CN": "次就诊已评估"},
    "referred": {"en": "Referred for HRCT", "zh-CN": "转诊做 HRCT"},
    "hrct_done": {"en": "HRCT done after referral", "zh-CN": "转诊后已完成 HRCT"},
    "ild_confirmed": {"en": "ILD confirmed", "zh-CN": "确诊间质性肺病"},
    "outcomes_confirmed": {"en": "confirmed outcomes", "zh-CN": "例确认结局"},
    "referral_yield": {"en": "Referral yield (PPV)", "zh-CN": "转诊阳性率（PPV）"},
    "hrct_completion": {"en": "HRCT completion", "zh-CN": "HRCT 完成率"},
    "days_to_hrct": {"en": "Days from referral to HRCT (median)", "zh-CN": "转诊至 HRCT 天数（中位数）"},
    "ci95": {"en": "95% CI", "zh-CN": "95% 置信区间"},
    "window_note": {"en": "A visit counts an HRCT within {months:g} months after it.",
                    "zh-CN": "就诊后 {months:g} 个月内的 HRCT 计入该次就诊。"},
    "plot_risk_over_time": {"en": "Risk distribution by month", "zh-CN": "各月风险分布"},
    "risk_band_note": {"en": "Line: median risk; band: 10th to 90th percentile.",
                       "zh-CN": "线：风险中位数；阴影：第 10 至 90 百分位。"},
    "axis_month": {"en": "Month", "zh-CN": "月份"},
    "axis_risk": {"en": "ILD risk", "zh-CN": "间质性肺病风险"},
    "plot_calibration": {"en": "Calibration on confirmed outcomes", "zh-CN": "基于确认结局的校准"},
    "axis_predicted": {"en": "Predicted risk", "zh-CN": "预测风险"},
    "axis_observed": {"en": "Observed ILD", "zh-CN": "实际患病比例"},
    "citl": {"en": "calibration-in-the-large", "zh-CN": "整体校准偏差"},
    "verification_note": {"en": "Mostly referred patients get an HRCT: outcomes are weighted by the inverse of the "
                                "share verified in their risk tier (Begg & Greenes).",
                          "zh-CN": "多为转诊患者做 HRCT：结局按其风险分级中已核实比例的倒数加权（Begg & Greenes）。"},
    "no_outcomes_yet": {"en": "No confirmed outcomes yet.", "zh-CN": "尚无确认结局。"},
    "calibration_in_use": {"en": "Site calibration in use", "zh-CN": "当前站点校准"},
    "shadow": {"en": "in shadow", "zh-CN": "影子运行"},
    "regional_validation": {"en": "Validated by the region (federated)", "zh-CN": "区域验证（联邦）"},
    "regional_clinics": {"en": "Clinics", "zh-CN": "诊所数"},
    "regional_patients": {"en": "Patients (with ILD)", "zh-CN": "患者数（ILD）"},
    "regional_counts": {"en": "Counts at this clinic", "zh-CN": "在本诊所计入"},
    "regional_too_few": {"en": "Not counted: too few clinics or patients", "zh-CN": "不计入：诊所或患者过少"},
    "regional_uncertain": {"en": "Not counted: its AUC is too uncertain", "zh-CN": "不计入：AUC 不确定性过大"},
    "regional_other_model": {"en": "Not counted: validated for another model version",
                             "zh-CN": "不计入：验证针对其他模型版本"},
    "regional_no_finding": {"en": "Not counted: no sensitivity and specificity of the finding",
                            "zh-CN": "不计入：缺少该发现的敏感度和特异度"},
    "regional_none": {"en": "No regional validation installed.", "zh-CN": "未安装区域验证。"},
    "regional_unusable": {"en": "The installed regional validation cannot be trusted and is not used.",
                          "zh-CN": "已安装的区域验证无法信任，未被使用。"},
    "drift": {"en": "Model output drift (PSI against training)", "zh-CN": "模型输出漂移（相对训练分布的 PSI）"},
    "model": {"en": "Model", "zh-CN": "模型"},
    "drift_alert": {"en": "Drift alert", "zh-CN": "漂移警报"},
    "too_few": {"en": "too few outputs", "zh-CN": "输出太少"},
    "drift_note": {"en": "Alert above PSI {alert:g} (programme setting).", "zh-CN": "PSI 高于 {alert:g} 时报警（项目设置）。"},
    "quality_refusals": {"en": "Quality-gate refusals per device", "zh-CN": "各设备质量检查拒收"},
    "device": {"en": "Device", "zh-CN": "设备"},
    "readings": {"en": "Readings", "zh-CN": "记录数"},
    "refused": {"en": "Refused", "zh-CN": "拒收"},
    "no_readings": {"en": "No recordings or breath readings yet.", "zh-CN": "尚无录音或呼气记录。"},
    "outcomes": {"en": "Confirmed outcomes", "zh-CN": "确认结局"},
    "outcome_source_hrct": {"en": "HRCT", "zh-CN": "HRCT"},
    "outcome_source_pft": {"en": "PFT", "zh-CN": "肺功能"},
    "ild_present": {"en": "ILD present", "zh-CN": "有间质性肺病"},
    "ild_absent": {"en": "No ILD", "zh-CN": "无间质性肺病"},
    "ild_indeterminate": {"en": "Indeterminate", "zh-CN": "不确定"},
    "from_hospital": {"en": "hospital report", "zh-CN": "医院报告"},
    # Accounts and the shared tablet
    "change_password": {"en": "Change password", "zh-CN": "修改密码"},
    "current_password": {"en": "Current (one-time) password", "zh-CN": "当前（一次性）密码"},
    "new_password": {"en": "New password", "zh-CN": "新密码"},
    "repeat_password": {"en": "New password again", "zh-CN": "再次输入新密码"},
    "password_rule": {"en": "At least {length} characters; not the one-time password.",
                      "zh-CN": "至少 {length} 个字符；不能与一次性密码相同。"},
    # A password over common.passwords.MAX_PASSWORD_LENGTH, refused before it is checked (the login page too).
    "err_password_too_long": {"en": "The password is too long: at most {max} characters.",
                              "zh-CN": "密码过长：最多 {max} 个字符。"},
    "err_password_current": {"en": "The current password is wrong.", "zh-CN": "当前密码错误。"},
    "err_password_repeat": {"en": "The two new passwords differ.", "zh-CN": "两次输入的新密码不一致。"},
    "err_password_same": {"en": "Choose a password different from the current one.", "zh-CN": "新密码不能与当前密码相同。"},
    "err_password_policy": {"en": "At least {length} characters, not a common password, and not containing your user "
                                  "name.", "zh-CN": "至少 {length} 个字符，不能是常见密码，也不能包含用户名。"},
    "err_role": {"en": "The tablet is for nurses and clinicians.", "zh-CN": "平板界面仅供护士和医生使用。"},
    "locked_notice": {"en": "The tablet was locked after a pause. Log in again to go on where you were.",
                      "zh-CN": "平板闲置后已锁定。请重新登录，继续之前的操作。"},
    "pin_ended_notice": {"en": "Too many wrong PINs: the session ended. Log in with your password.",
                         "zh-CN": "PIN 错误次数过多，会话已结束。请用密码登录。"},
    "unlock_title": {"en": "Tablet locked", "zh-CN": "平板已锁定"},
    "unlock_owner": {"en": "Session of {name}. Enter your PIN to go on where you were.",
                     "zh-CN": "{name} 的会话。输入您的 PIN，继续之前的操作。"},
    "pin": {"en": "PIN", "zh-CN": "PIN 码"},
    "unlock": {"en": "Unlock", "zh-CN": "解锁"},
    "switch_user": {"en": "Not you? Switch user", "zh-CN": "不是您？切换用户"},
    "err_pin_wrong": {"en": "Wrong PIN. Attempts left before the session ends: {left}.",
                      "zh-CN": "PIN 错误。再错 {left} 次会话将结束。"},
    "session_locked": {"en": "The tablet is locked: enter your PIN.", "zh-CN": "平板已锁定：请输入 PIN 码。"},
    "pin_heading": {"en": "Tablet PIN", "zh-CN": "平板 PIN 码"},
    "pin_explained": {"en": "When the shared tablet locks after a pause, your PIN reopens your own session. "
                            "It never logs anyone in, and changing your password removes it.",
                      "zh-CN": "共用平板闲置锁定后，用 PIN 码重新打开您自己的会话。PIN 码不能用来登录；修改密码后 PIN 码将被清除。"},
    "pin_is_set": {"en": "A PIN is set.", "zh-CN": "已设置 PIN 码。"},
    "pin_not_set": {"en": "No PIN yet: the lock asks for your password.", "zh-CN": "尚未设置 PIN 码：锁定后需输入密码。"},
    "pin_saved": {"en": "PIN saved.", "zh-CN": "PIN 码已保存。"},
    "pin_removed": {"en": "PIN removed.", "zh-CN": "PIN 码已清除。"},
    "pin_password": {"en": "Your password", "zh-CN": "您的密码"},
    "new_pin": {"en": "New PIN", "zh-CN": "新 PIN 码"},
    "new_repeat_pin": {"en": "New PIN again", "zh-CN": "再次输入新 PIN 码"},
    "pin_rule": {"en": "{low} to {high} digits; not one digit repeated (0000) and not a run (1234, 9876).",
                 "zh-CN": "{low} 至 {high} 位数字；不能全部相同（0000），也不能是连续数字（1234、9876）。"},
    "err_pin_policy": {"en": "Use {low} to {high} digits, not one digit repeated and not a run such as 1234.",
                       "zh-CN": "请使用 {low} 至 {high} 位数字，不能全部相同，也不能是 1234 这类连续数字。"},
    "err_pin_repeat": {"en": "The two PINs differ.", "zh-CN": "两次输入的 PIN 码不一致。"},
    "save_pin": {"en": "Save PIN", "zh-CN": "保存 PIN 码"},
    "remove_pin": {"en": "Remove PIN", "zh-CN": "清除 PIN 码"},
    "fix_errors": {"en": "Fields to correct: {count}", "zh-CN": "有 {count} 项需要更正："},
    # The lab form when every item is a unit check (tabular_models.lab_panels.unit_slip): nothing is wrong
    # yet, a value is to be checked and confirmed.
    "check_values": {"en": "Values to check: {count}", "zh-CN": "有 {count} 项需要核对："},
    "back_home": {"en": "Back to today's visits", "zh-CN": "返回今日就诊"},
    "menu": {"en": "Menu", "zh-CN": "菜单"},
    "offline_banner": {"en": "No connection to the clinic server: what you type is kept on this tablet and saved "
                             "when the connection is back.",
                       "zh-CN": "与诊所服务器的连接中断：输入内容暂存在平板上，连接恢复后自动保存。"},
    "err_network": {"en": "The clinic server did not answer: check the Wi-Fi, then try again. Nothing was lost.",
                    "zh-CN": "诊所服务器无响应：请检查无线网络后重试。内容没有丢失。"},
    # Worklist and checklist
    "patient_code_short": {"en": "Patient", "zh-CN": "患者"},
    "time": {"en": "Time", "zh-CN": "时间"},
    "visit_status": {"en": "Status", "zh-CN": "状态"},
    "visit_status_open": {"en": "in progress", "zh-CN": "进行中"},
    "visit_status_completed": {"en": "finished", "zh-CN": "已完成"},
    "visit_status_cancelled": {"en": "closed early", "zh-CN": "已提前结束"},
    "missing_steps": {"en": "Still to do", "zh-CN": "待完成"},
    "no_patient_found": {"en": "No patient with this code.", "zh-CN": "没有该编码的患者。"},
    "checklist_auscultation": {"en": "Lung sounds", "zh-CN": "肺部听诊"},
    "checklist_breath": {"en": "Breath", "zh-CN": "呼气检测"},
    "checklist_labs": {"en": "Blood tests", "zh-CN": "血液检查"},
    "checklist_lung_function": {"en": "Lung function", "zh-CN": "肺功能"},
    "checklist_symptoms": {"en": "Symptoms", "zh-CN": "症状"},
    "state_done": {"en": "done", "zh-CN": "已完成"},
    "state_pending": {"en": "to do", "zh-CN": "待完成"},
    "state_skipped": {"en": "skipped", "zh-CN": "已跳过"},
    "skip": {"en": "Skip", "zh-CN": "跳过"},
    "unskip": {"en": "Do it after all", "zh-CN": "恢复此步"},
    "finish_visit": {"en": "Finish the visit", "zh-CN": "完成就诊"},
    "close_visit": {"en": "Close without finishing", "zh-CN": "未完成即结束"},
    # A closed visit is the record of what was measured (edge.patients.require_open_visit): nothing reopens it,
    # so what the nurse can do is a new visit of the patient ("new_visit", on the patient's page).
    "visit_closed_notice": {"en": "This visit is closed: nothing more can be added. To record more, start a new "
                                  "visit of the patient.",
                            "zh-CN": "本次就诊已结束，不能再添加内容。如需继续记录，请为该患者开始新的就诊。"},
    # Something sent to a visit closed meanwhile (another tab, another tablet, the API): not stored.
    "err_visit_closed": {"en": "Not saved: this visit was closed (finished or closed early, perhaps in another tab), "
                               "so nothing more can be added to it. To record more, start a new visit of the patient.",
                         "zh-CN": "未保存：本次就诊已结束（已完成或提前结束，可能是在其他标签页中），不能再添加内容。"
                                  "如需继续记录，请为该患者开始新的就诊。"},
    # edge.web.visit_views._message_key: a Conflict with no words of its own (never a closed visit's).
    "err_conflict": {"en": "Not done: something changed meanwhile (in another tab or on another tablet). The visit "
                           "below is shown as it is now: check it, then try again.",
                     "zh-CN": "未完成：其间有更改（在其他标签页或其他平板上）。下方显示本次就诊的当前状态：请核对后重试。"},
    "ctd_SSc": {"en": "Systemic sclerosis", "zh-CN": "系统性硬化症"},
    "ctd_RA": {"en": "Rheumatoid arthritis", "zh-CN": "类风湿关节炎"},
    "ctd_IIM": {"en": "Idiopathic inflammatory myopathy (PM/DM, antisynthetase syndrome)",
                "zh-CN": "特发性炎性肌病（多发性肌炎/皮肌炎、抗合成酶综合征）"},
    "ctd_SjD": {"en": "Sjögren's disease", "zh-CN": "干燥综合征"},
    "ctd_SLE": {"en": "Systemic lupus erythematosus", "zh-CN": "系统性红斑狼疮"},
    "ctd_MCTD": {"en": "Mixed connective-tissue disease", "zh-CN": "混合性结缔组织病"},
    "ctd_undetermined": {"en": "Diagnosis not yet established (CTD suspected, work-up not complete)",
                         "zh-CN": "诊断尚未确立（疑似结缔组织病，风湿科检查未完成）"},
    # Devices and capture
    "device_stethoscope": {"en": "Digital stethoscope", "zh-CN": "电子听诊器"},
    "device_enose": {"en": "E-nose board", "zh-CN": "电子鼻设备"},
    "device_unknown": {"en": "Sensor board (not identified yet)", "zh-CN": "传感设备（尚未识别）"},
    "connect": {"en": "Connect", "zh-CN": "连接"},
    "connecting": {"en": "Connecting…", "zh-CN": "正在连接…"},
    "err_board_busy": {"en": "This board is already recording: wait for it to finish or cancel it.",
                       "zh-CN": "该设备正在采集：请等待完成或取消。"},
    "capture_cancelled": {"en": "Capture cancelled. Nothing was saved; the board is ready again.",
                          "zh-CN": "采集已取消。未保存任何内容，设备已就绪。"},
    "capture_orphaned": {"en": "The capture was stopped because the page was left. Nothing was saved.",
                         "zh-CN": "因离开页面，采集已停止。未保存任何内容。"},
    "capture_lost": {"en": "The capture was lost (the clinic server restarted?). Nothing was saved: start it again.",
                     "zh-CN": "采集已中断（诊所服务器可能已重启）。未保存任何内容：请重新开始。"},
    "cancel_capture": {"en": "Cancel", "zh-CN": "取消"},
    "capturing": {"en": "Recording from the board…", "zh-CN": "正在从设备采集…"},
    "prompt_stethoscope": {"en": "Ask the patient to breathe deeply through the mouth.", "zh-CN": "请患者张口深呼吸。"},
    "prompt_enose": {"en": "Ask the patient to breathe out steadily into the mouthpiece when the board says so.",
                     "zh-CN": "设备提示时，请患者对准吹气口平稳呼气。"},
    "err_device": {"en": "The board did not answer: check that it is switched on and plugged in, then connect again.",
                   "zh-CN": "设备无响应：请检查设备电源和连接线后重新连接。"},
    "source_upload": {"en": "file", "zh-CN": "文件"},
    "source_microphone": {"en": "tablet microphone", "zh-CN": "平板麦克风"},
    "source_device": {"en": "connected board", "zh-CN": "已连接的设备"},
    # Recording
    "back_view": {"en": "Patient's back, seen from behind", "zh-CN": "患者背部（从背后看）"},
    "side_left": {"en": "L", "zh-CN": "左"},
    "side_right": {"en": "R", "zh-CN": "右"},
    "seconds_left": {"en": "s left", "zh-CN": "秒"},
    "level": {"en": "Sound level", "zh-CN": "音量"},
    "err_mic_denied": {"en": "The microphone is blocked: allow it in the browser's site settings (the lock icon), "
                             "then tap Record again.",
                       "zh-CN": "麦克风被禁止：请在浏览器的网站设置（锁形图标）中允许使用麦克风，然后再点录音。"},
    "err_mic_missing": {"en": "No microphone found: plug in the stethoscope adapter or upload a file.",
                        "zh-CN": "未找到麦克风：请连接听诊器转接头或上传文件。"},
    "playback": {"en": "Play", "zh-CN": "播放"},
    "re_record": {"en": "Discard and record again", "zh-CN": "删除并重录"},
    "keep_take": {"en": "Keep and go to the next site", "zh-CN": "保留并进入下一个部位"},
    # A clinician's label of a take (edge.recordings.label_crackles_heard): a reference for checking the
    # crackle detector ('ildscreen audio export-labelled'), never an input of the result.
    "crackles_heard_question": {"en": "Listening to this take, do you hear crackles?",
                                "zh-CN": "听这段录音，您能听到爆裂音吗？"},
    "crackles_heard_yes": {"en": "Yes, crackles", "zh-CN": "是，有爆裂音"},
    "crackles_heard_no": {"en": "No crackles", "zh-CN": "没有爆裂音"},
    "crackles_heard_unsure": {"en": "Not sure", "zh-CN": "不确定"},
    "crackles_heard_save": {"en": "Save my answer", "zh-CN": "保存我的回答"},
    "crackles_heard_note": {"en": "Your answer is used to check the crackle detector. It does not change this "
                                  "visit's result, risk or advice.",
                            "zh-CN": "您的回答用于核查爆裂音检测器，不会改变本次就诊的结果、风险或建议。"},
    "crackles_heard_shown": {"en": "Clinician heard: {answer}", "zh-CN": "医生听诊：{answer}。"},
    "crackles_heard_saved": {"en": "Answer saved.", "zh-CN": "回答已保存。"},
    "err_crackles_heard_role": {"en": "Only a clinician can answer whether crackles are heard.",
                                "zh-CN": "只有医生可以回答是否听到爆裂音。"},
    "err_crackles_heard_answer": {"en": "Choose yes, no or not sure.", "zh-CN": "请选择是、否或不确定。"},
    "err_crackles_heard_discarded": {"en": "This take was discarded: there is nothing to listen to.",
                                     "zh-CN": "此录音已删除，无法收听。"},
    "err_file": {"en": "Choose a file first.", "zh-CN": "请先选择文件。"},
    "err_chest_site": {"en": "Choose a chest site.", "zh-CN": "请选择听诊部位。"},
    "err_chest_piece": {"en": "Choose the chest piece the recording went through: diaphragm, bell, extended filter "
                              "or not stated.",
                        "zh-CN": "请选择录音所用的听诊头：膜型面、钟型面、扩展滤波模式或未说明。"},
    "err_stethoscope": {"en": "Choose the stethoscope the recording went through from the list, or not stated.",
                        "zh-CN": "请从列表中选择录音所用的听诊器，或选择未说明。"},
    "err_too_large": {"en": "The file is too large.", "zh-CN": "文件过大。"},
    "err_model_unavailable": {"en": "A model is unavailable: the service status page lists it; nothing was lost.",
                              "zh-CN": "有模型暂不可用：服务状态页会列出；数据没有丢失。"},
    "err_take_audio_missing": {
        "en": "The {site} take recorded at {time} cannot be read again: its sound file is missing from the clinic "
              "storage. Nothing was changed. Discard that take (\u201cDiscard and record again\u201d), record "
              "the site again, then calculate the risk again.",
        "zh-CN": "{time} 录制的{site}录音无法重新读取：诊所存储中已找不到该录音的声音文件。数据没有任何更改。"
                 "请删除这条录音（“删除并重录”），重新录制该部位，然后重新计算风险。"},
    "breath_poor": {"en": "Poor reading: take the breath reading again", "zh-CN": "读数质量差：请重新做呼气检测"},
    # The same on a closed visit: its reading is a record, nothing is measured on it any more.
    "breath_poor_closed": {"en": "Poor reading", "zh-CN": "读数质量差"},
    # Labs
    "analyte": {"en": "Test", "zh-CN": "项目"},
    "si_value": {"en": "In SI units", "zh-CN": "国际单位"},
    "reference_range": {"en": "Reference", "zh-CN": "参考范围"},
    "flag_high": {"en": "high", "zh-CN": "偏高"},
    "flag_low": {"en": "low", "zh-CN": "偏低"},
    "err_labs_file": {"en": "The lab file could not be imported: check its columns, values and units.",
                      "zh-CN": "化验文件无法导入：请检查文件的列名、数值和单位。"},
    "err_lab_file_analyte": {"en": "The lab file could not be imported: check the value and unit of {name}.",
                             "zh-CN": "化验文件无法导入：请核对{name}的数值和单位。"},
    "err_lab_collected_at_unreadable": {
        "en": "The lab file could not be imported: a result's date is not a date. Write it as YYYY-MM-DD "
              "(or YYYY-MM-DDThh:mm:ss with the time zone).",
        "zh-CN": "化验文件无法导入：有一项结果的采样日期不是有效日期。请写成 YYYY-MM-DD"
                 "（或带时区的 YYYY-MM-DDThh:mm:ss）。"},
    "err_lab_collected_at_after_visit": {
        "en": "The lab file could not be imported: a result's date is after this visit's date. Check the dates, "
              "or enter the results in the visit they belong to.",
        "zh-CN": "化验文件无法导入：有一项结果的采样日期晚于本次就诊日期。请核对日期，或将结果录入其所属的就诊。"},
    "err_breath_file": {"en": "The breath file could not be read: upload the e-nose board's own export (CSV/JSON).",
                        "zh-CN": "呼气文件无法读取：请上传电子鼻设备导出的原始文件（CSV/JSON）。"},
    # A file without one of the columns it should have: {column} is one of our own column names, never the file's.
    "err_labs_file_column": {"en": "The lab file could not be imported: it has no {column} column. Import the lab's own "
                                   "export, with a column for each test, its value and its unit.",
                             "zh-CN": "化验文件无法导入：文件中没有 {column} 列。请导入化验室导出的原始文件，其中应有项目、"
                                      "数值和单位各一列。"},
    "err_breath_file_column": {"en": "The breath file could not be read: it has no {column} column. Upload the e-nose "
                                     "board's own export (CSV/JSON).",
                               "zh-CN": "呼气文件无法读取：文件中没有 {column} 列。请上传电子鼻设备导出的原始文件（CSV/JSON）。"},
    "err_audio_file": {"en": "The recording could not be read: record again or upload a WAV/FLAC file.",
                       "zh-CN": "录音无法读取：请重新录音，或上传 WAV/FLAC 文件。"},
    "err_audio_too_short": {"en": "The recording is too short to assess: record the site again for 20 s. Nothing was "
                                  "stored.",
                            "zh-CN": "录音太短，无法评估：请重新录制该部位 20 秒。未保存任何内容。"},
    "err_audio_sample_rate": {"en": "The recording's sample rate cannot be used by the crackle model: record again with "
                                    "the tablet or the stethoscope, or upload the stethoscope's own WAV/FLAC export. "
                                    "Nothing was stored.",
                              "zh-CN": "该录音的采样率无法用于爆裂音模型：请用平板或听诊器重新录音，或上传听诊器导出的原始 "
                                       "WAV/FLAC 文件。未保存任何内容。"},
    "err_busy": {"en": "The clinic server is busy with other recordings: send this one again in a minute. Nothing was "
                       "stored.",
                 "zh-CN": "诊所服务器正在处理其他录音：请稍等一分钟后重新发送。未保存任何内容。"},
    # Lung function
    "step_lung_function": {"en": "Lung function", "zh-CN": "肺功能"},
    "lung_function_hint": {"en": "If spirometry was done: FVC and DLCO in % of predicted.",
                           "zh-CN": "如已做肺功能检查：填写 FVC 和 DLCO 占预计值的百分比。"},
    "fvc_percent": {"en": "FVC (% predicted)", "zh-CN": "FVC（占预计值 %）"},
    "dlco_percent": {"en": "DLCO (% predicted)", "zh-CN": "DLCO（占预计值 %）"},
    "dlco_not_performed": {"en": "DLCO not done", "zh-CN": "未做 DLCO"},
    "err_lung_function": {"en": "Enter % predicted between 10 and 200 (or leave empty).",
                          "zh-CN": "请输入 10 至 200 之间的预计值百分比（或留空）。"},
    # edge.web.visit_views.VALUE_MAX_CHARS: a longer value (pasted) is refused as typed, never cut.
    "err_lung_value_too_long": {"en": "Not saved: a value has more than {max} characters. Enter % predicted as a "
                                       "number between 10 and 200 (or leave it empty).",
                                "zh-CN": "未保存：有数值超过 {max} 个字符。请以数字填写 10 至 200 之间的预计值百分比（或留空）。"},
    # Result
    "assess_again": {"en": "Calculate again", "zh-CN": "重新计算"},
    "calculated_at": {"en": "Calculated {time}", "zh-CN": "计算时间 {time}"},
    # edge.web.presenters.settings_changed: the result shows what was decided, under the settings of then.
    "settings_changed": {"en": "Settings changed since this assessment: press “Calculate again” to apply them.",
                         "zh-CN": "本次评估后设置已更改：请点击“重新计算”以应用新设置。"},
    # edge.freshness.changed_since: inputs stored after the result was calculated.
    "result_out_of_date": {"en": "Out of date: changed since this result ({changes}). Press “Calculate again” "
                                 "before acting on it.",
                           "zh-CN": "结果已过时：本次结果计算后有更改（{changes}）。请先点击“重新计算”，再据此处理。"},
    "changed_labs": {"en": "blood tests", "zh-CN": "血液检查"},
    "changed_breath": {"en": "breath", "zh-CN": "呼气检测"},
    "changed_earlier_blood_count": {"en": "an earlier visit's blood count", "zh-CN": "既往就诊的血常规"},
    "changed_lung_function": {"en": "lung function", "zh-CN": "肺功能"},
    "changed_patient": {"en": "patient details or symptoms", "zh-CN": "患者信息或症状"},
    "changed_lung_sounds": {"en": "lung sounds", "zh-CN": "肺部听诊"},
    "changed_monitoring": {"en": "ILD monitoring ended or resumed", "zh-CN": "间质性肺病监测已结束或恢复"},
    "changed_outcomes": {"en": "HRCT or PFT outcomes on the patient's record", "zh-CN": "患者记录中的 HRCT 或肺功能结局"},
    # A closed visit's result is its record (edge.patients.require_open_visit): its page says it is out
    # of date, naming every change (inputs, settings, models), and what gives a current result, never "Calculate again".
    "closed_result_out_of_date": {"en": "Out of date: changed since this result ({changes}). This visit is closed, so "
                                        "its result stays as it was calculated: start a new visit for a current result.",
                                  "zh-CN": "结果已过时：本次结果计算后有更改（{changes}）。该就诊已结束，其结果保留计算时的原样："
                                           "如需最新结果，请开始新的就诊。"},
    # edge.freshness.models_unchecked: a result stored by an earlier release, before results kept what checking
    # a model needs (its manifest entry's digest, the "if missing, measured" range): not known to have changed,
    # so never said to be updated; it counts as out of date all the same, and nothing rewrites it.
    "result_unchecked": {"en": "Not checked against the models served now ({models}): this result was stored by an "
                               "earlier version of the service, which did not keep what that check needs, so the "
                               "result counts as out of date.",
                         "zh-CN": "未能与当前使用的模型核对（{models}）：本结果由较早版本的服务保存，当时未保存核对所需的信息，"
                                  "因此本结果视为已过时。"},
    "result_unchecked_open": {"en": "Not checked against the models served now ({models}): this result was stored by "
                                    "an earlier version of the service, which did not keep what that check needs, so "
                                    "the result counts as out of date. Press “Calculate again” before acting on it.",
                              "zh-CN": "未能与当前使用的模型核对（{models}）：本结果由较早版本的服务保存，当时未保存核对所需的信息，"
                                       "因此本结果视为已过时。请先点击“重新计算”，再据此处理。"},
    "result_unchecked_closed": {"en": "Not checked against the models served now ({models}): this result was stored "
                                      "by an earlier version of the service, which did not keep what that check needs, "
                                      "so the result counts as out of date. This visit is closed, so its result stays "
                                      "as it was calculated: start a new visit for a current result.",
                                "zh-CN": "未能与当前使用的模型核对（{models}）：本结果由较早版本的服务保存，当时未保存核对所需的信息，"
                                         "因此本结果视为已过时。该就诊已结束，其结果保留计算时的原样：如需最新结果，请开始新的就诊。"},
    "changed_settings": {"en": "programme settings", "zh-CN": "项目设置"},
    "changed_model_auscultation": {"en": "the lung-sound model", "zh-CN": "肺音模型"},
    "changed_model_labs": {"en": "the blood-test model", "zh-CN": "血液检查模型"},
    "changed_model_breath": {"en": "the breath model", "zh-CN": "呼气检测模型"},
    "changed_model_site_calibration": {"en": "the site calibration", "zh-CN": "本机构校准"},
    "changed_model_regional_validation": {"en": "the regional validation", "zh-CN": "区域验证"},
    "changed_model_crackle_device_rule": {"en": "how lung sounds count (each take judged by its own chest piece)",
                                          "zh-CN": "肺音的计入方式（按每次录音所用听诊头判断）"},
    "changed_model_crackle_weakest_device_rule": {
        "en": "how lung sounds count (takes through several chest pieces count by the weakest of them)",
        "zh-CN": "肺音的计入方式（经多个听诊头的录音按其中最弱者计）"},
    "err_assess_visit_closed": {"en": "Not calculated: this visit is closed, so its result stays as it was calculated. "
                                      "Start a new visit for a new result.",
                                "zh-CN": "未计算：该就诊已结束，其结果保留计算时的原样。如需新结果，请开始新的就诊。"},
    # edge.freshness.models_changed: Calculate scores the takes, blood tests and breath reading again with the
    # models served now, and weighs each with the served model's manifest entry.
    "model_updated_auscultation": {"en": "The lung-sound model was updated since this result: press “Calculate "
                                         "again” before acting on it.",
                                   "zh-CN": "本次结果计算后肺音模型已更新：请先点击“重新计算”，再据此处理。"},
    "model_updated_labs": {"en": "The blood-test model was updated since this result: press “Calculate again” "
                                 "before acting on it.",
                           "zh-CN": "本次结果计算后血液检查模型已更新：请先点击“重新计算”，再据此处理。"},
    "model_updated_breath": {"en": "The breath model was updated since this result: press “Calculate again” "
                                   "before acting on it.",
                             "zh-CN": "本次结果计算后呼气检测模型已更新：请先点击“重新计算”，再据此处理。"},
    "model_updated_site_calibration": {"en": "The site calibration was changed since this result: press “Calculate "
                                             "again” before acting on it.",
                                       "zh-CN": "本次结果计算后本机构校准已更改：请先点击“重新计算”，再据此处理。"},
    "model_updated_regional_validation": {"en": "The regional validation was changed since this result: press "
                                                "“Calculate again” before acting on it.",
                                          "zh-CN": "本次结果计算后区域验证已更改：请先点击“重新计算”，再据此处理。"},
    # edge.freshness.counted_before_device_rule (h107): lung sounds counted before each take was judged by its
    # own device's figures.
    "model_updated_crackle_device_rule": {"en": "How lung sounds count changed since this result (each take is now "
                                                "judged by its own chest piece's results on patients): press "
                                                "“Calculate again” before acting on it.",
                                          "zh-CN": "本次结果计算后肺音的计入方式已更改（现按每次录音所用听诊头自身在患者中的结果判断）："
                                                   "请先点击“重新计算”，再据此处理。"},
    # edge.freshness.counted_before_weakest_device_rule (h117): lung sounds counted with the pooled figures before
    # takes through several chest pieces with results of their own counted by the weakest of them.
    "model_updated_crackle_weakest_device_rule": {
        "en": "How lung sounds count changed since this result (takes through several chest pieces now count by "
              "the results on patients of the weakest of them): press “Calculate again” before acting on it.",
        "zh-CN": "本次结果计算后肺音的计入方式已更改（经多个听诊头的录音现按其中在患者中结果最弱者计）："
                 "请先点击“重新计算”，再据此处理。"},
    # Any kind of edge.freshness.CHANGE_KINDS: some are not at the visit (an earlier visit's blood count,
    # outcomes on the patient's record, the end of ILD monitoring), so the line names no place.
    "letter_changed_after": {"en": "Changed after the result this referral carries was calculated ({changes}): "
                                   "not in this letter or the referral.",
                             "zh-CN": "本转诊所附结果计算后，以下内容有更改（{changes}）：未包含在本信函和转诊中。"},
    "refer_needs_current_result": {"en": "Calculate the risk again first: the referral is sent with the latest "
                                         "result, and this one does not include every change.",
                                   "zh-CN": "请先重新计算风险：转诊随最新结果发送，而当前结果未包含所有更改。"},
    # A cancelled visit is not referred (edge.outbox.REFERABLE_VISITS): its refer form, sent from a page shown before.
    "err_refer_visit_cancelled": {"en": "Not referred: this visit was closed early, and a visit closed early is not "
                                        "referred. Start a new visit of the patient, calculate its result and refer "
                                        "from that visit.",
                                  "zh-CN": "未转诊：本次就诊已提前结束，提前结束的就诊不能转诊。请为该患者开始新的就诊，"
                                           "计算其结果后从该次就诊转诊。"},
    # A completed visit is referred from its current result; its result is its record and is not calculated
    # again, so one out of date is referred from a new visit (edge.freshness.require_current).
    "refer_closed_needs_new_visit": {"en": "This visit cannot be referred: its result is out of date, and a finished "
                                           "visit's result is not calculated again. To refer, start a new visit of "
                                           "the patient, calculate its result and refer from that visit.",
                                     "zh-CN": "本次就诊无法转诊：其结果已过时，而已完成就诊的结果不会再次计算。如需转诊，"
                                              "请为该患者开始新的就诊，计算其结果后从该次就诊转诊。"},
    "err_refer_closed_out_of_date": {"en": "Not sent: this visit's result is out of date (the result above says what "
                                           "changed), and a finished visit's result is not calculated again. To refer, "
                                           "start a new visit of the patient, calculate its result and refer from "
                                           "that visit.",
                                     "zh-CN": "未发送：本次就诊的结果已过时（上方结果处列出了更改内容），而已完成就诊的结果"
                                              "不会再次计算。如需转诊，请为该患者开始新的就诊，计算其结果后从该次就诊转诊。"},
    "err_refer_result_changed": {"en": "Not sent: the result changed after this page was opened. Check the result "
                                       "below, then refer again.",
                                 "zh-CN": "未发送：此页面打开后结果已更改。请核对下方结果后再转诊。"},
    # edge.web.presenters.assessment_heard_rule: a result stored before it kept its own lung-sound rule.
    # The takes another crackle model first scored (edge.recordings.rescore_takes_of_other_models): after a
    # model update each is scored again from its kept recording, so one model judges the visit.
    "takes_rescored": {"en": "Scored again after a crackle-model update: {sites} had first been scored by {first} "
                             "(threshold {first_threshold}). This result judged them with {model} (threshold "
                             "{threshold}), which scored them again from the kept recordings.",
                       "zh-CN": "爆裂音模型更新后重新评分：{sites}最初由 {first}（阈值 {first_threshold}）评分。"
                                "本结果用 {model}（阈值 {threshold}）判读，已根据保存的录音重新评分。"},
    "take_rescored": {"en": "Scored again by {model} after a crackle-model update; first scored by {first}: {first_percent}.",
                      "zh-CN": "爆裂音模型更新后已由 {model} 重新评分；最初由 {first} 评分：{first_percent}。"},
    "rule_from_today": {"en": "This result was stored before results kept how their lung-sound takes were read "
                              "(crackle threshold, chest pieces that cannot rule crackles out): the lung-sound "
                              "lines use today's settings, which may differ from those used then.",
                        "zh-CN": "此结果保存时尚未随结果记录肺音判读方式（爆裂音阈值、不能排除爆裂音的听诊头）："
                                 "以上肺音内容按当前设置判读，可能与当时所用的不同。"},
    "risk_meaning": {"en": "Of 100 patients with these findings, about {count} would have ILD on HRCT.",
                     "zh-CN": "在 100 名有相同检查结果的患者中，约 {count} 人的 HRCT 会显示间质性肺病。"},
    "interval_text": {"en": "Likely between {low}% and {high}% (90% interval).", "zh-CN": "可能在 {low}% 至 {high}% 之间（90% 区间）。"},
    "no_interval": {"en": "No reliable interval for this result.", "zh-CN": "该结果没有可靠的区间。"},
    "nothing_measured": {"en": "Nothing was measured at this visit, so there is no result. From the clinical "
                               "picture alone, the risk before any test is about {percent}%.",
                         "zh-CN": "本次就诊未做任何检测，因此没有结果。仅根据临床情况，检测前风险约为 {percent}%。"},
    "guideline_line": {"en": "Guideline (2023 ACR/CHEST): screen people with autoimmune rheumatic disease at risk of ILD "
                             "with HRCT and lung function tests (PFTs).",
                       "zh-CN": "指南（2023 ACR/CHEST）：有间质性肺病风险的自身免疫性风湿病患者应做高分辨率 CT 和肺功能检查筛查。"},
    "clinical_prior_text": {"en": "Clinical picture alone: {percent}% before any test",
                            "zh-CN": "仅临床情况：检测前 {percent}%"},
    "driver_raised": {"en": "{name} raised the risk (×{factor})", "zh-CN": "{name}使风险升高（×{factor}）"},
    "driver_lowered": {"en": "{name} lowered the risk (÷{factor})", "zh-CN": "{name}使风险降低（÷{factor}）"},
    "driver_unchanged": {"en": "{name} barely changed the risk", "zh-CN": "{name}几乎未改变风险"},
    # The result's headline: "<risk in words>: <natural frequency>. <what to do, by when>"
    "headline_text": {"en": "{frequency}. {action}", "zh-CN": "{frequency}。{action}"},
    "risk_words_low": {"en": "Low risk", "zh-CN": "低风险"},
    "risk_words_intermediate": {"en": "Moderate risk", "zh-CN": "中等风险"},
    "risk_words_high": {"en": "High risk", "zh-CN": "高风险"},
    "risk_words_urgent": {"en": "Urgent", "zh-CN": "紧急"},
    "freq_under_1": {"en": "Fewer than 1 in 100 patients like this have ILD",
                     "zh-CN": "每 100 名类似患者中不到 1 人患有间质性肺病"},
    "freq_about": {"en": "About {count} in 100 patients like this have ILD",
                   "zh-CN": "每 100 名类似患者中约 {count} 人患有间质性肺病"},
    "freq_over_99": {"en": "Almost all patients like this (more than 99 in 100) have ILD",
                     "zh-CN": "几乎所有类似患者（每 100 人中超过 99 人）患有间质性肺病"},
    "action_hrct_pfts_urgent": {"en": "Refer for HRCT and lung function tests this week, and tell the "
                                      "rheumatologist today.",
                                "zh-CN": "本周内转诊做高分辨率 CT 和肺功能检查，并于今天通知风湿科医生。"},
    "action_hrct_pfts_within_3_months": {"en": "Arrange HRCT and lung function tests within 3 months.",
                                         "zh-CN": "3 个月内安排高分辨率 CT 和肺功能检查。"},
    "action_hrct_pfts_routine": {"en": "Arrange HRCT and lung function tests at a routine appointment.",
                                 "zh-CN": "在常规预约时安排高分辨率 CT 和肺功能检查。"},
    # {months}: the assessment's rescreen_months (programme settings, edge.fusion.triage).
    "action_discuss": {"en": "Discuss HRCT and lung function tests with the rheumatologist; screen again in {months} "
                             "months.",
                       "zh-CN": "与风湿科医生讨论是否做高分辨率 CT 和肺功能检查；{months} 个月后再次筛查。"},
    "action_rescreen": {"en": "Screen again in {months} months, sooner if breathlessness or cough appear.",
                        "zh-CN": "{months} 个月后再次筛查；如出现气促或咳嗽，请提前。"},
    "action_monitoring": {"en": "ILD is confirmed: monitor it, with lung function tests every {every} months.",
                          "zh-CN": "已确诊间质性肺病：请监测病情，每 {every} 个月复查肺功能。"},
    # {date}: when a clinician ended monitoring (edge.fusion.monitoring.ended_recommendation).
    "action_monitoring_ended": {"en": "ILD is confirmed; monitoring here was ended on {date} by a clinician's "
                                      "decision: a new concern needs a clinician's review.",
                                "zh-CN": "已确诊间质性肺病；本机构的监测已于 {date} 由医生决定结束：如有新的问题，需由医生"
                                         "评估。"},
    "action_pfts": {"en": "Arrange lung function tests and ask about breathlessness and cough; HRCT again only if they "
                          "fall, symptoms appear or a warning sign is found. Screen again in {months} months.",
                    "zh-CN": "安排肺功能检查并询问气促和咳嗽情况；仅当肺功能下降、出现症状或发现警示征象时再次做 HRCT。"
                             "{months} 个月后再次筛查。"},
    "flag_banner": {"en": "Warning sign found: do not wait for the next screening. Arrange HRCT and lung function "
                          "tests within 3 months.",
                    "zh-CN": "发现警示征象：不要等到下次筛查。请在 3 个月内安排高分辨率 CT 和肺功能检查。"},
    "plain_interval": {"en": "The true risk is probably between {low}% and {high}%.",
                       "zh-CN": "真实风险很可能在 {low}% 到 {high}% 之间。"},
    "plain_interval_missing": {"en": "The tests not yet done could still move it to between {missing_low}% and "
                                     "{missing_high}%.",
                               "zh-CN": "尚未做的检查仍可能使风险变为 {missing_low}% 到 {missing_high}% 之间。"},
    "missing_ranked": {"en": "Not done yet, most useful first", "zh-CN": "尚未完成（按作用大小排列）"},
    "missing_could_change": {"en": "could change the advice", "zh-CN": "可能改变建议"},
    # Said of a test not done yet (its model not yet counted): never that it was measured.
    "missing_cannot_change": {"en": "not yet counted even when measured: cannot change the advice",
                              "zh-CN": "可测量但暂不计入：不会改变建议"},
    "missing_labs_count": {"en": "{count} blood tests not entered", "zh-CN": "{count} 项血液检查未录入"},
    "show_list": {"en": "Show which", "zh-CN": "查看明细"},
    "urgent_banner": {"en": "Urgent: refer this week and tell the rheumatologist today.",
                      "zh-CN": "紧急：本周内转诊，并于今天通知风湿科医生。"},
    "urgent": {"en": "urgent", "zh-CN": "紧急"},
    "refer_urgent": {"en": "Urgent referral for HRCT", "zh-CN": "紧急转诊做高分辨率 CT"},
    # Letter
    "back_to_visit": {"en": "Back to the visit", "zh-CN": "返回就诊"},
    "clinic_unnamed": {"en": "Clinic (name not set: ILDSCREEN_CLINIC_NAME)", "zh-CN": "诊所（未设置名称：ILDSCREEN_CLINIC_NAME）"},
    "crackle_findings": {"en": "Crackles by site (model)", "zh-CN": "各部位爆裂音（模型）"},
    "key_labs": {"en": "Blood tests", "zh-CN": "血液检查"},
    "validation_unknown": {"en": "Model validation: see the service status page.", "zh-CN": "模型验证情况：见服务状态页。"},
    "referred_by": {"en": "Referred by", "zh-CN": "转诊人"},
    "role_nurse": {"en": "nurse", "zh-CN": "护士"},
    "role_clinician": {"en": "clinician", "zh-CN": "医生"},
    "role_admin": {"en": "administrator", "zh-CN": "管理员"},
    "screening_advice": {"en": "Screening advice", "zh-CN": "筛查建议"},
    # On the monitoring pathway (ILD confirmed) the letter's advice is monitoring, as the FHIR referral says it.
    "monitoring_advice": {"en": "Monitoring advice (ILD confirmed)", "zh-CN": "监测建议（间质性肺病已确诊）"},
    "source_original_language": {"en": "Source", "zh-CN": "出处（原文）"},
    "model_statement_synthetic": {"en": "Trained on synthetic data only; not validated on patients; not for clinical use.",
                                  "zh-CN": "仅用合成数据训练；未在患者中验证；不得用于临床。"},
    "model_statement_unvalidated": {"en": "Not validated on patients of this population; not for clinical use.",
                                    "zh-CN": "未在该人群患者中验证；不得用于临床。"},
    "signature": {"en": "signature", "zh-CN": "签名"},
    "date": {"en": "date", "zh-CN": "日期"},
    # Error pages of the tablet (edge.app): by the domain error's code or the HTTP status.
    "error_error": {"en": "Something went wrong. Nothing was lost; try again.", "zh-CN": "出错了。数据没有丢失，请重试。"},
    "error_validation_error": {"en": "Some values were not accepted: go back and check them.", "zh-CN": "部分数值未被接受：请返回检查。"},
    "error_malformed_request": {"en": "The request could not be read: go back and try again.", "zh-CN": "请求无法读取：请返回重试。"},
    "error_payload_too_large": {"en": "The file is too large.", "zh-CN": "文件过大。"},
    "error_unsupported_media_type": {"en": "This kind of file is not accepted.", "zh-CN": "不接受此类文件。"},
    "error_not_found": {"en": "This page or record does not exist.", "zh-CN": "该页面或记录不存在。"},
    "error_conflict": {"en": "This cannot be changed any more (the visit may be closed).", "zh-CN": "已无法修改（就诊可能已结束）。"},
    "error_authentication_failed": {"en": "Please log in.", "zh-CN": "请登录。"},
    "error_capture_running": {"en": "This board is already recording: wait for it to finish or cancel it.",
                              "zh-CN": "该设备正在采集：请等待完成或取消。"},
    "error_forbidden": {"en": "Your account may not open this page.", "zh-CN": "您的账户无权打开此页面。"},
    "error_csrf_failed": {"en": "The page had expired: go back, reload it and try again.", "zh-CN": "页面已过期：请返回、刷新后重试。"},
    "error_password_change_required": {"en": "Choose your own password first.", "zh-CN": "请先设置自己的密码。"},
    "error_storage_error": {"en": "The clinic server could not save this. Tell the administrator.", "zh-CN": "诊所服务器无法保存，请联系管理员。"},
    "error_device_unavailable": {"en": "The board did not answer: check that it is switched on and plugged in.", "zh-CN": "设备无响应：请检查设备电源和连接线。"},
    "error_model_unavailable": {"en": "A model is unavailable; nothing was lost. Tell the administrator.", "zh-CN": "有模型暂不可用；数据没有丢失。请联系管理员。"},
    "error_http_400": {"en": "The request could not be read: go back and try again.", "zh-CN": "请求无法读取：请返回重试。"},
    "error_http_403": {"en": "Your account may not open this page.", "zh-CN": "您的账户无权打开此页面。"},
    "error_http_404": {"en": "This page does not exist.", "zh-CN": "该页面不存在。"},
    "error_http_405": {"en": "This page cannot be opened that way.", "zh-CN": "不能以这种方式打开此页面。"},
    "error_http_500": {"en": "Something went wrong on the clinic server. Nothing was lost; try again.",
                       "zh-CN": "诊所服务器出错。数据没有丢失，请重试。"},
    # CT metrics of the hospital report (edge.web.presenters.CT_METRICS)
    "ct_haa_percent": {"en": "High-attenuation lung (fibrosis-like)", "zh-CN": "高密度肺组织（纤维化样）"},
    "ct_laa_percent": {"en": "Low-attenuation lung (emphysema-like)", "zh-CN": "低密度肺组织（肺气肿样）"},
    "ct_mean_lung_density_hu": {"en": "Mean lung density", "zh-CN": "平均肺密度"},
    "ct_lung_volume_ml": {"en": "Lung volume", "zh-CN": "肺容积"},
}

# Why a recording or breath reading should be taken again, by the issue code the checks
# report (audio_models.quality, tabular_models.breath_signal). English shows the checks' own
# measured detail; these are the instructions in the other languages.
# Autoantibodies as a Chinese clinic writes them (edge.vocabulary.AUTOANTIBODIES codes); English
# keeps the code, which is how English clinical notes write them.
ANTIBODY_ZH = {
    "anti-Scl-70": "抗 Scl-70 抗体", "anti-centromere": "抗着丝点抗体", "anti-RNA-polymerase-III": "抗 RNA 聚合酶 III 抗体",
    "RF-high-titre": "类风湿因子（高滴度）", "anti-CCP": "抗 CCP 抗体", "anti-CCP-high-titre": "抗 CCP 抗体（高滴度）", "anti-Jo-1": "抗 Jo-1 抗体",
    "anti-PL-7": "抗 PL-7 抗体", "anti-PL-12": "抗 PL-12 抗体", "anti-EJ": "抗 EJ 抗体", "anti-OJ": "抗 OJ 抗体",
    "anti-MDA5": "抗 MDA5 抗体", "anti-Ro52": "抗 Ro52 抗体", "anti-SSA": "抗 SSA 抗体", "anti-SSB": "抗 SSB 抗体",
    "anti-U1-RNP": "抗 U1-RNP 抗体", "anti-dsDNA": "抗 dsDNA 抗体", "anti-Sm": "抗 Sm 抗体", "ANA": "抗核抗体（ANA）",
}
CATALOG.update({f"antibody_{code}": {"en": code, "zh-CN": name} for code, name in ANTIBODY_ZH.items()})

# Why a take or a breath reading was refused, in plain words with what to do next, by the quality
# gate's issue code (audio: "code: measured detail"; breath: {"code", "reason"}). The gate's own
# strings are for engineers; the nurse reads these.
QUALITY_ISSUES: dict[str, dict[str, str]] = {
    "audio:unreadable": {"en": "The file could not be read: record this site again.",
                         "zh-CN": "文件无法读取：请在该部位重新录音。"},
    "audio:too_short": {"en": "The recording is too short: record at least 6 seconds at this site.",
                        "zh-CN": "录音太短：该部位至少录 6 秒。"},
    "audio:silent": {"en": "No sound was recorded: check the stethoscope is connected and not muted, then "
                           "record again.", "zh-CN": "没有录到声音：请检查听诊器已连接且未静音，然后重新录音。"},
    "audio:clipped": {"en": "The sound was too loud (distorted): press the chest piece more lightly and record "
                            "again.", "zh-CN": "声音过大（失真）：听诊头请压得轻一些，然后重新录音。"},
    "audio:handling_noise": {"en": "Too much rubbing or knocking noise: hold the chest piece still and flat on "
                                   "the skin, then record again.",
                             "zh-CN": "摩擦或碰撞噪声过多：请握稳听诊头，平贴皮肤，然后重新录音。"},
    "audio:no_breath_sounds": {"en": "No breathing was heard, only a steady hiss: place the chest piece flat on bare skin, "
                              "ask the patient to breathe deeply through the open mouth, then record again.",
                        "zh-CN": "没有听到呼吸音，只有持续的嘶嘶声：请将听诊头平贴在裸露皮肤上，嘱患者张口深呼吸，然后重新录音。"},
    "audio:speech": {"en": "Talking was recorded: ask the patient and others to stay quiet, then record again.",
                     "zh-CN": "录到说话声：请患者和周围的人保持安静，然后重新录音。"},
    "audio:poor_signal": {"en": "The sound is too poor to judge: place the chest piece again, keep quiet and "
                                "record again.", "zh-CN": "声音质量太差，无法判读：请重新放好听诊头，保持安静，然后重新录音。"},
    "breath:missing_phase": {"en": "Part of the breath test is missing: do the whole breath test again.",
                             "zh-CN": "呼气检测缺少某个步骤：请重新完整做一次呼气检测。"},
    "breath:too_short": {"en": "A step of the breath test was too short: follow the timed prompts and test again.",
                         "zh-CN": "呼气检测的某个步骤时间太短：请按计时提示重新检测。"},
    "breath:saturated": {"en": "The sensor was overloaded: check the e-nose board, then test again.",
                         "zh-CN": "传感器过载：请检查电子鼻板，然后重新检测。"},
    "breath:dead_sensor": {"en": "A sensor gave no signal: check the e-nose board.",
                           "zh-CN": "有一个传感器没有信号：请检查电子鼻板。"},
    "breath:environment_out_of_range": {
        "en": "The chamber's temperature, humidity or pressure reading is impossible (outside what its sensor "
              "measures), so the reading cannot be scored: check the e-nose board, then test again.",
        "zh-CN": "气室的温度、湿度或气压读数超出其传感器的测量范围，数值不可能，因此无法评分：请检查电子鼻板，然后重新检测。"},
    "breath:warmup_incomplete": {"en": "The sensor had not warmed up: wait a minute, then test again.",
                                 "zh-CN": "传感器尚未预热：请等一分钟，然后重新检测。"},
    "breath:no_breath": {"en": "No breath was detected: ask the patient to breathe out fully into the mouthpiece.",
                         "zh-CN": "未检测到呼气：请患者对准吹气口完整呼气。"},
}
UNKNOWN_QUALITY_ISSUE = {"audio": {"en": "The recording could not be used: record this site again.",
                                   "zh-CN": "录音无法使用：请在该部位重新录音。"},
                         "breath": {"en": "The reading could not be used: do the breath test again.",
                                    "zh-CN": "读数无法使用：请重新做呼气检测。"}}


#: Each quality issue's words are what happened, this separator, then what to do: on a closed visit only the
#: first half is said (nothing records on it).
QUALITY_ISSUE_TO_DO = {"en": ": ", "zh-CN": "："}
FULL_STOP = {"en": ".", "zh-CN": "。"}


def quality_issue(issue: str | dict, kind: str, lang: str, *, advise: bool = True) -> str:
    """One quality issue for the nurse, in plain words with what to do, in her language; without what to do
    unless it may ``advise`` (a closed visit's take or reading is a record: edge.patients.require_open_visit).

    ``issue`` is the gate's ``"code: detail"`` (audio) or ``{"code", "reason"}`` (breath); only the
    code is read. The measured detail is for engineers and stays in the API's ``quality.issues``.
    """
    code = issue.get("code", "") if isinstance(issue, dict) else issue.partition(":")[0].strip()
    entry = QUALITY_ISSUES.get(f"{kind}:{code}") or UNKNOWN_QUALITY_ISSUE.get(kind) or UNKNOWN_QUALITY_ISSUE["audio"]
    lang = lang if lang in entry else "en"
    if advise:
        return entry[lang]
    return entry[lang].split(QUALITY_ISSUE_TO_DO[lang], 1)[0] + FULL_STOP[lang]


def error_message(code: str, lang: str, detail: str = "") -> str:
    """An error page's message: the catalog's sentence for the error code, the English detail
    appended in English only (it names the offending value, which helps on the phone to IT)."""
    key = f"error_{code}" if f"error_{code}" in CATALOG else "error_error"
    text = translate(key, lang)
    return f"{text} ({detail})" if lang == "en" and detail else text


#: How each language joins a list of words: Chinese lists take the enumeration comma (顿号).
LIST_SEPARATORS = {"en": ", ", "zh-CN": "、"}


def join_list(items, lang: str) -> str:
    """``items`` (words already in ``lang``) as one list in ``lang``: the one place lists are joined per language."""
    return LIST_SEPARATORS.get(lang, LIST_SEPARATORS["en"]).join(items)


#: How each language puts the last of several alternatives ("Bell or Extended filter"): 或, with no space, in Chinese.
LAST_ALTERNATIVE = {"en": " or ", "zh-CN": "或"}


def join_alternatives(items, lang: str) -> str:
    """``items`` (words already in ``lang``) as alternatives in ``lang``: the list's separator
    (:func:`join_list`) between the first ones, ``LAST_ALTERNATIVE`` before the last."""
    items = list(items)
    if len(items) < 2:
        return join_list(items, lang)
    return join_list(items[:-1], lang) + LAST_ALTERNATIVE.get(lang, LAST_ALTERNATIVE["en"]) + items[-1]


#: How each language joins a list whose items hold lists of their own (a stethoscope with its chest pieces):
#: a semicolon, full width in Chinese.
GROUP_SEPARATORS = {"en": "; ", "zh-CN": "；"}
#: How each language puts words in brackets after a name: full-width brackets, no space, in Chinese.
BRACKETS = {"en": " ({})", "zh-CN": "（{}）"}


def join_groups(items, lang: str) -> str:
    """``items`` (words already in ``lang``, each perhaps a list of its own, :func:`join_list`) as one list in
    ``lang``."""
    return GROUP_SEPARATORS.get(lang, GROUP_SEPARATORS["en"]).join(items)


def bracketed(name: str, words: str, lang: str) -> str:
    """``name`` followed by ``words`` in brackets, as ``lang`` writes them (``Littmann 3200 (Bell)``,
    ``Littmann 3200（钟型面）``)."""
    return name + BRACKETS.get(lang, BRACKETS["en"]).format(words)


def translate(key: str, lang: str, **values) -> str:
    """The tablet catalog's words for ``key`` in ``lang`` (:func:`common.i18n.lookup`)."""
    return lookup(CATALOG, key, lang, **values)
