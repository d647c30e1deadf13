"""Translations of the tablet UI (English and Simplified Chinese) and language negotiation.

The language comes from the ``lang`` cookie (set by the switch in the header), else from the
browser's Accept-Language, else English.
"""
from __future__ import annotations

from flask import request

LANGUAGES = ("en", "zh-CN")
LANGUAGE_COOKIE = "lang"

CATALOG: dict[str, dict[str, str]] = {
    "app_title": {"en": "ILD screening", "zh-CN": "间质性肺病筛查"},
    "not_for_clinical_use": {"en": "Not for clinical use until validated.", "zh-CN": "未经验证，不得用于临床。"},
    "synthetic_banner": {"en": "A model used here was trained on synthetic data only: treat the risk as a demonstration.",
                         "zh-CN": "此处使用的模型仅用合成数据训练：风险值仅供演示。"},
    "login": {"en": "Log in", "zh-CN": "登录"},
    "logout": {"en": "Log out", "zh-CN": "退出"},
    "username": {"en": "Username", "zh-CN": "用户名"},
    "password": {"en": "Password", "zh-CN": "密码"},
    "wrong_credentials": {"en": "Wrong username or password.", "zh-CN": "用户名或密码错误。"},
    "account_locked": {"en": "Too many failed attempts: the account is locked for a while.",
                       "zh-CN": "失败次数过多：账户已暂时锁定。"},
    "change_password_first": {"en": "Change your one-time password with the API or ask the admin.",
                              "zh-CN": "请先修改一次性密码，或联系管理员。"},
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
    "symptoms": {"en": "Symptoms", "zh-CN": "症状"},
    "medications": {"en": "Medications (comma-separated)", "zh-CN": "用药（逗号分隔）"},
    "save": {"en": "Save", "zh-CN": "保存"},
    "new_visit": {"en": "Start a screening visit", "zh-CN": "开始筛查就诊"},
    "timeline": {"en": "Timeline", "zh-CN": "时间线"},
    "risk_trend": {"en": "Risk over time", "zh-CN": "风险变化"},
    "visit": {"en": "Visit", "zh-CN": "就诊"},
    "step_auscultation": {"en": "1. Lung sounds", "zh-CN": "1. 肺部听诊"},
    "step_breath": {"en": "2. Breath", "zh-CN": "2. 呼气检测"},
    "step_labs": {"en": "3. Blood tests", "zh-CN": "3. 血液检查"},
    "step_result": {"en": "4. Result", "zh-CN": "4. 结果"},
    "auscultation_hint": {"en": "Record 20 s at each site, posterior bases first, while the patient breathes deeply "
                                "through the mouth.",
                          "zh-CN": "每个部位录音 20 秒，先录背部肺底，请患者张口深呼吸。"},
    "chest_site": {"en": "Chest site", "zh-CN": "听诊部位"},
    "record": {"en": "Record 20 s", "zh-CN": "录音 20 秒"},
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
                           "zh-CN": "化验结果已保存，但未评分：化验模型不可用（见 /readyz）。模型修复后会自动评分，无需重新录入。"},
    "breath_kept_unscored": {"en": "Saved; the breath model is unavailable (see /readyz): it is scored once the model "
                                   "is repaired.",
                             "zh-CN": "已保存；呼气模型不可用（见 /readyz）：模型修复后会自动评分。"},
    "not_scored": {"en": "not scored", "zh-CN": "未评分"},
    "breath_hint": {"en": "Take an e-nose reading with the board, or upload its export.",
                    "zh-CN": "用电子鼻设备采集，或上传其导出文件。"},
    "labs_hint": {"en": "Enter the latest CMP and CBC with the unit printed on the report.",
                  "zh-CN": "按化验单上的单位录入最近一次生化和血常规结果。"},
    "assess": {"en": "Calculate risk", "zh-CN": "计算风险"},
    "working": {"en": "Working…", "zh-CN": "正在处理…"},
    "risk": {"en": "ILD risk", "zh-CN": "间质性肺病风险"},
    "interval": {"en": "90% interval", "zh-CN": "90% 区间"},
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
    "letter_title": {"en": "Referral for high-resolution CT of the lungs", "zh-CN": "肺部高分辨率 CT 转诊单"},
    "referral_code": {"en": "Referral code", "zh-CN": "转诊编码"},
    "reason": {"en": "Reason: suspected interstitial lung disease", "zh-CN": "原因：疑似间质性肺病"},
    "devices": {"en": "Devices", "zh-CN": "设备"},
    "language": {"en": "中文", "zh-CN": "English"},
    "err_required": {"en": "Required.", "zh-CN": "必填。"},
    "err_code": {"en": "3–32 letters, digits or dashes; never a name or ID number.",
                 "zh-CN": "3–32 位字母、数字或短横线；不得使用姓名或证件号。"},
    "err_birth_year": {"en": "Enter a year between {low} and {high}.", "zh-CN": "请输入 {low} 至 {high} 之间的年份。"},
    "err_duplicate_code": {"en": "This code is already registered.", "zh-CN": "该编码已登记。"},
    "err_invalid": {"en": "Check this value.", "zh-CN": "请检查此项。"},
    "err_medications": {"en": "Plain medication names, 2–80 characters each.", "zh-CN": "药名需为 2–80 个普通字符。"},
    "err_number": {"en": "Enter a number.", "zh-CN": "请输入数字。"},
    "err_no_labs": {"en": "Enter at least one result.", "zh-CN": "请至少录入一项结果。"},
    "err_lab_value": {"en": "Not possible in this unit: check the value and the unit.",
                      "zh-CN": "该单位下数值不可能：请核对数值和单位。"},
    "save_labs": {"en": "Save blood results", "zh-CN": "保存血液结果"},
    "import_labs": {"en": "Or import a file (CSV, JSON or FHIR)", "zh-CN": "或导入文件（CSV、JSON 或 FHIR）"},
    "import": {"en": "Import", "zh-CN": "导入"},
    "stored_results": {"en": "Stored results", "zh-CN": "已保存结果"},
    "labs_probability": {"en": "Blood-test model", "zh-CN": "血液模型"},
    "missing_analytes": {"en": "Not measured", "zh-CN": "未检测"},
    "upload_breath": {"en": "Upload an e-nose export (CSV/JSON)", "zh-CN": "上传电子鼻导出文件（CSV/JSON）"},
    "capture_device": {"en": "Capture from the connected board", "zh-CN": "从已连接的设备采集"},
    "breath_probability": {"en": "Breath model", "zh-CN": "呼气模型"},
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
    # Advice per tier (2023 ACR/CHEST): steps separated by "|".
    "rec_steps_low": {"en": "Re-screen in 12 months", "zh-CN": "12 个月后复筛"},
    "rec_steps_intermediate": {"en": "PFTs (spirometry, lung volumes, DLCO) within 3 months|Re-screen in 6 months",
                               "zh-CN": "3 个月内做肺功能检查（肺通气、肺容积、弥散功能 DLCO）|6 个月后复筛"},
    "rec_steps_high": {"en": "Refer for HRCT|PFTs (spirometry, lung volumes, DLCO)",
                       "zh-CN": "转诊做高分辨率 CT（HRCT）|肺功能检查（肺通气、肺容积、弥散功能 DLCO）"},
    "rec_steps_urgent": {"en": "Refer for HRCT this week|PFTs (spirometry, lung volumes, DLCO) this week|"
                               "Inform the rheumatologist today",
                         "zh-CN": "本周内转诊做高分辨率 CT|本周内做肺功能检查（肺通气、肺容积、DLCO）|今天通知风湿科医生"},
    "not_confirming": {"en": "A chest X-ray, 6-minute walk test or pulse oximetry cannot rule out ILD: use HRCT and PFTs.",
                       "zh-CN": "胸片、6 分钟步行试验或指脉氧不能排除间质性肺病：请用 HRCT 和肺功能检查。"},
    "flag_anti_mda5_rapid_dyspnoea": {"en": "anti-MDA5 with rapidly worsening breathlessness: risk of rapidly "
                                            "progressive ILD",
                                      "zh-CN": "抗 MDA5 阳性且气短迅速加重：有快速进展性间质性肺病风险"},
    "flag_rapid_dyspnoea": {"en": "Breathlessness worsening over days to weeks",
                            "zh-CN": "气短在数天至数周内加重"},
    "flag_low_fvc": {"en": "FVC below 80% predicted", "zh-CN": "FVC 低于预计值 80%"},
    "flag_low_dlco": {"en": "DLCO below 80% predicted", "zh-CN": "DLCO 低于预计值 80%"},
}

# Why a recording or breath reading should be taken again, by the issue code the checks
# report (audio_models.quality, tabular_models.breath_signal). English shows the checks' own
# measured detail; these are the instructions in the other languages.
QUALITY_ISSUES: dict[str, dict[str, str]] = {
    "audio:unreadable": {"zh-CN": "文件无法读取：请重新录音"},
    "audio:too_short": {"zh-CN": "录音太短：每个部位至少录 6 秒"},
    "audio:silent": {"zh-CN": "没有声音：检查听诊器的连接和静音"},
    "audio:clipped": {"zh-CN": "声音过载（削波）：调低增益，听诊头不要压得太重"},
    "audio:handling_noise": {"zh-CN": "摩擦或碰撞噪声过多：握稳听诊头，紧贴皮肤"},
    "audio:speech": {"zh-CN": "录到说话声：请患者和周围的人在录音时保持安静"},
    "breath:missing_phase": {"zh-CN": "读数缺少某个阶段：请完整做一次呼气检测"},
    "breath:too_short": {"zh-CN": "某个阶段时间太短：请按提示时间完成"},
    "breath:saturated": {"zh-CN": "传感器读数饱和：检查电子鼻板后重测"},
    "breath:dead_sensor": {"zh-CN": "传感器无信号：检查电子鼻板"},
    "breath:warmup_incomplete": {"zh-CN": "传感器尚未预热稳定：稍等后重测"},
    "breath:no_breath": {"zh-CN": "未检测到呼气：请患者对准吹气口完整呼气"},
}


def quality_issue(issue: str | dict, kind: str, lang: str) -> str:
    """One quality issue for the nurse: ``"code: detail"`` (audio) or ``{"code", "reason"}`` (breath).

    English keeps the measured detail the checks wrote; other languages show the catalog's
    instruction for the code (the detail is English), or the detail if the code is unknown.
    """
    code, detail = ((issue.get("code", ""), issue.get("reason", "")) if isinstance(issue, dict)
                    else (issue.partition(":")[0], issue))
    entry = QUALITY_ISSUES.get(f"{kind}:{code}")
    if lang == "en" or entry is None:
        return detail
    return entry.get(lang) or detail


def negotiate_language() -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "zh-CN" if best and best.startswith("zh") else "en"


def translate(key: str, lang: str, **values) -> str:
    entry = CATALOG.get(key)
    if entry is None:
        return key
    return entry.get(lang, entry["en"]).format(**values)
