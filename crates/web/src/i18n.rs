//! The UI's words in Swedish (default) and English. One table, so a missing translation is a
//! missing row that the unit test below finds, not a blank on an operator's screen.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Sv,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Sv => Lang::En,
            Lang::En => Lang::Sv,
        }
    }
}

/// (key, Swedish, English).
const TEXTS: &[(&str, &str, &str)] = &[
    (
        "app.tagline",
        "Realtidsigenkänning enligt lag 2026:806",
        "Real-time recognition under Act 2026:806",
    ),
    ("login.title", "Logga in", "Log in"),
    ("login.user", "Användar-id", "User id"),
    ("login.password", "Lösenord", "Password"),
    ("login.submit", "Logga in", "Log in"),
    ("login.totp", "Engångskod (appen)", "One-time code (app)"),
    (
        "enrol.link",
        "Nytt konto? Aktivera med din kod",
        "New account? Enrol with your code",
    ),
    ("enrol.title", "Aktivera konto", "Enrol"),
    (
        "enrol.intro",
        "Välj ditt lösenord med engångskoden du fick av en administratör. Ingen annan får veta det.",
        "Choose your password with the one-time code an administrator gave you. Nobody else learns it.",
    ),
    ("enrol.code", "Engångskod", "Enrolment code"),
    (
        "enrol.password",
        "Nytt lösenord (minst 12 tecken)",
        "New password (at least 12 characters)",
    ),
    (
        "enrol.again",
        "Samma lösenord igen",
        "The same password again",
    ),
    ("enrol.submit", "Aktivera", "Enrol"),
    (
        "enrol.mismatch",
        "Lösenorden är inte lika.",
        "The passwords differ.",
    ),
    (
        "enrol.secret",
        "Lägg in den här nyckeln i din autentiseringsapp (TOTP). Appens kod behövs vid varje inloggning.",
        "Add this key to your authenticator app (TOTP). Its code is needed at every login.",
    ),
    ("enrol.app_link", "Öppna i appen", "Open in the app"),
    (
        "enrol.once",
        "Nyckeln visas bara nu. Tappar du den får en administratör ge dig en ny kod.",
        "The key is shown only now. If you lose it, an administrator issues you a new code.",
    ),
    ("password.title", "Mitt konto", "My account"),
    ("password.current", "Nuvarande lösenord", "Current password"),
    ("password.submit", "Byt lösenord", "Change password"),
    (
        "password.no_roles",
        "Kontot har inga roller ännu: de gäller när en andra administratör har godkänt dem.",
        "The account has no roles yet: they take effect when a second administrator approves them.",
    ),
    ("logout", "Logga ut", "Log out"),
    ("lang.switch", "English", "Svenska"),
    ("nav.operator", "Larm och kameror", "Alerts and cameras"),
    ("nav.review", "Granskning", "Review"),
    ("nav.permits", "Tillstånd", "Permits"),
    ("nav.decide", "Beslut", "Decisions"),
    (
        "nav.procedure",
        "Ombud och överklagande",
        "Counsel and appeal",
    ),
    (
        "proc.title",
        "Offentligt ombud, förhandling och överklagande",
        "Public counsel, hearing and appeal",
    ),
    (
        "proc.intro",
        "Där profilen kräver det förordnar domstolen ett offentligt ombud, som yttrar sig innan domstolen beviljar, och för protokoll över förhandlingen. Den som ett beslut gick emot kan överklaga det inom överklagandetiden till en högre instans som inte tidigare haft med tillståndet att göra.",
        "Where the profile requires it, the court appoints a public counsel, who files an opinion before the court grants, and records the hearing. The party a decision went against may appeal it within the appeal period to a higher instance that has had no part in the permit.",
    ),
    (
        "proc.none",
        "Inget väntar på dig här.",
        "Nothing waits for you here.",
    ),
    ("proc.done", "Registrerat.", "Recorded."),
    (
        "proc.appoint",
        "Offentligt ombud (användarnamn)",
        "Public counsel (user name)",
    ),
    ("proc.appoint.button", "Förordna ombud", "Appoint counsel"),
    ("proc.present", "Närvarande", "Present"),
    (
        "proc.hearing.outcome",
        "Förhandlingens utfall",
        "What the hearing came to",
    ),
    (
        "proc.hearing.button",
        "Registrera förhandling",
        "Record the hearing",
    ),
    ("proc.opinion", "Yttrande", "Opinion"),
    ("proc.opposes", "Motsätter sig", "Opposes"),
    ("proc.no_objection", "Inget att invända", "No objection"),
    ("proc.position.opposes", "motsätter sig", "opposes"),
    (
        "proc.position.no_objection",
        "inget att invända",
        "no objection",
    ),
    (
        "proc.appeal.to",
        "Högre instans (användarnamn)",
        "Higher instance (user name)",
    ),
    (
        "proc.appeal.grounds",
        "Grunder för överklagandet",
        "Grounds of the appeal",
    ),
    ("proc.appeal.button", "Överklaga", "Appeal"),
    ("proc.uphold", "Fastställ beslutet", "Uphold the decision"),
    ("proc.overturn", "Upphäv beslutet", "Overturn the decision"),
    ("proc.counsel", "Offentligt ombud", "Public counsel"),
    ("proc.hearing", "Förhandling", "Hearing"),
    ("proc.decision", "Beslut", "Decision"),
    ("proc.appeal", "Överklagande", "Appeal"),
    ("proc.result.upheld", "fastställt", "upheld"),
    ("proc.result.overturned", "upphävt", "overturned"),
    (
        "status.overturned",
        "upphävt efter överklagande",
        "overturned on appeal",
    ),
    ("nav.audit", "Logg", "Audit log"),
    ("nav.admin", "Administration", "Administration"),
    (
        "time.note",
        "Tider i svensk tid",
        "Times are Swedish local time",
    ),
    ("alerts.live", "Larm (uppdateras direkt)", "Alerts (live)"),
    ("alerts.none", "Inga larm.", "No alerts."),
    ("col.time", "Tid", "Time"),
    ("col.camera", "Kamera", "Camera"),
    ("col.permit", "Tillstånd", "Permit"),
    ("col.person", "Person", "Person"),
    ("col.score", "Likhet / tröskel", "Score / threshold"),
    ("col.state", "Status", "State"),
    ("col.action", "Åtgärd", "Action"),
    ("col.name", "Namn", "Name"),
    ("col.owner", "Ägare", "Owner"),
    ("col.fps", "Bilder/s", "Frames/s"),
    ("col.dropped", "Tappade", "Dropped"),
    (
        "col.fitness",
        "Lämplig för identifiering",
        "Fit for identification",
    ),
    ("col.roles", "Roller", "Roles"),
    ("col.user", "Användare", "User"),
    ("col.purpose", "Syfte", "Purpose"),
    ("col.period", "Period", "Period"),
    ("col.applicant", "Sökande", "Applicant"),
    ("col.actor", "Vem", "Who"),
    ("col.action_done", "Vad", "What"),
    ("col.origin", "Varifrån", "From where"),
    ("col.details", "Detaljer", "Details"),
    ("dispatch", "Skicka enhet", "Dispatch a unit"),
    (
        "dispatch.done",
        "Utskick registrerat.",
        "Dispatch recorded.",
    ),
    (
        "awaiting.review",
        "Väntar på två granskare",
        "Awaiting two reviewers",
    ),
    ("cameras", "Kameror", "Cameras"),
    (
        "cameras.none",
        "Inga kameror registrerade.",
        "No cameras registered.",
    ),
    (
        "map",
        "Karta: kameror och aktiva tillståndsområden",
        "Map: cameras and areas of active permits",
    ),
    (
        "map.none",
        "Inga kameror med koordinater.",
        "No cameras with coordinates.",
    ),
    (
        "map.legend",
        "Rött område: aktivt tillstånd. Röd punkt: kamera som analyseras. Grå: analyseras inte.",
        "Red area: active permit. Red dot: camera being analysed. Grey: not analysed.",
    ),
    (
        "health.none",
        "Ingen kamera i dina tillstånd är ansluten. En kamera ansluts bara medan ett tillstånd täcker den, och en minut innan det börjar.",
        "No camera of your permits is connected. A camera is connected only while a permit covers it, and a minute before it starts.",
    ),
    (
        "health.idle",
        "— (inget av dina tillstånd)",
        "— (none of your permits)",
    ),
    ("fit.yes", "ja", "yes"),
    ("fit.no", "nej", "no"),
    ("review.queue", "Granskningskö", "Review queue"),
    (
        "review.none",
        "Inga larm väntar på din granskning.",
        "No alerts await your review.",
    ),
    ("review.reference", "Referensbild", "Reference photo"),
    ("review.probe", "Bild från kamera", "Camera image"),
    (
        "review.blind",
        "Du ser inte den andra granskarens beslut.",
        "You do not see the other reviewer's decision.",
    ),
    ("review.reason", "Motivering", "Reason"),
    ("review.confirm", "Bekräfta träff", "Confirm match"),
    ("review.reject", "Avvisa", "Reject"),
    (
        "review.done",
        "Din granskning är registrerad.",
        "Your review is recorded.",
    ),
    ("permits.title", "Tillstånd", "Permits"),
    ("permits.none", "Inga tillstånd.", "No permits."),
    ("permits.new", "Nytt utkast", "New draft"),
    ("permit.apply", "Ansök", "Apply"),
    ("col.team", "Team", "Team"),
    ("team.user", "Användare", "User"),
    ("team.assign", "Lägg till", "Assign"),
    ("team.remove", "Ta bort", "Remove"),
    ("team.role", "Roll i teamet", "Role on the team"),
    ("permit.urgent", "Brådskande start", "Urgent start"),
    (
        "f.case_number",
        "Diarienummer (K-nummer)",
        "Case number (K-number)",
    ),
    (
        "permit.urgent.no_ground",
        "inte angivet (startad innan skäl krävdes)",
        "not recorded (started before grounds were required)",
    ),
    (
        "permit.urgent.ground",
        "Skäl för brådskande start (fara i dröjsmål)",
        "Why it cannot wait (urgent ground)",
    ),
    ("permit.stop", "Avsluta användning", "Stop use"),
    (
        "permit.outcome",
        "Registrera vad användningen ledde till",
        "Record what the use led to",
    ),
    ("permit.outcome.short", "Utfall", "Outcome"),
    (
        "outcome.person_located",
        "Person lokaliserad",
        "Person located",
    ),
    ("outcome.arrested", "Gripande", "Arrested"),
    (
        "outcome.victim_found",
        "Brottsoffer påträffat",
        "Victim found",
    ),
    ("outcome.nothing", "Inget resultat", "Nothing"),
    (
        "outcome.false_identification_acted_on",
        "Felidentifiering som lett till åtgärd",
        "A false identification acted on",
    ),
    (
        "permit.stop.reason",
        "Skäl för att avsluta",
        "Reason to stop",
    ),
    (
        "permit.deadline",
        "Ansökan måste göras inom",
        "Application due within",
    ),
    (
        "permit.deadline.passed",
        "Fristen har löpt ut",
        "The deadline has passed",
    ),
    (
        "permit.done",
        "Tillståndet är uppdaterat.",
        "The permit is updated.",
    ),
    (
        "permit.created",
        "Utkastet är sparat. Registrera referensbilder med `mandat person enrol` innan ansökan.",
        "The draft is saved. Enrol reference photos with `mandat person enrol` before applying.",
    ),
    (
        "decide.queue",
        "Ansökningar att besluta",
        "Applications to decide",
    ),
    (
        "decide.none",
        "Inga ansökningar väntar.",
        "No applications are waiting.",
    ),
    (
        "decide.reasons",
        "Skäl för beslutet",
        "Reasons for the decision",
    ),
    (
        "decide.scope",
        "Det som beviljas (avmarkera det som inte beviljas)",
        "What is granted (untick what is not)",
    ),
    ("decide.until", "Tillståndet gäller till", "The permit ends"),
    ("amend.title", "Ändring", "Amendment"),
    (
        "amend.covered",
        "Kameror i tillståndet",
        "Cameras the permit covers",
    ),
    ("amend.asked", "Kameror som begärs", "Cameras asked for"),
    (
        "amend.reasons",
        "Skäl för ändringen",
        "Reasons for the amendment",
    ),
    (
        "map.area",
        "Karta över området och kamerorna",
        "Map of the area and its cameras",
    ),
    (
        "map.area_legend",
        "Ytan som hjälpte att välja kamerorna. Röd punkt: polisens kamera som ingår; ring: partnerkamera som ingår; grå: registrerad kamera som inte ingår.",
        "The area that helped choose the cameras. Red dot: a police camera included; ring: a partner camera included; grey: a registered camera not included.",
    ),
    ("decide.grant", "Bevilja", "Grant"),
    ("decide.refuse", "Avslå", "Refuse"),
    (
        "decide.done",
        "Beslutet är registrerat.",
        "The decision is recorded.",
    ),
    ("cert.title", "Raderingsintyg", "Deletion certificate"),
    (
        "cert.intro",
        "Tillståndet avslogs. Allt som användningen gav upphov till är raderat:",
        "The permit was refused. Everything its use produced is deleted:",
    ),
    ("cert.photos", "Referensbilder", "Reference photos"),
    ("cert.templates", "Mallar", "Templates"),
    ("cert.alerts", "Larm", "Alerts"),
    ("cert.reviews", "Granskningar", "Reviews"),
    (
        "cert.key",
        "Krypterad datanyckel raderad ur databasen",
        "Wrapped data key deleted from the database",
    ),
    ("cert.backups", "Säkerhetskopior", "Backups"),
    ("cam.partner", "partnerkamera", "partner camera"),
    ("cam.agreement", "Avtal", "Agreement"),
    (
        "cam.no_agreement",
        "inget avtal registrerat: kameran analyseras inte",
        "no agreement recorded: the camera is not analysed",
    ),
    (
        "cam.agreement_whole",
        "avtalet gäller hela tillståndsperioden",
        "the agreement covers the whole permit period",
    ),
    (
        "cam.agreement_part",
        "avtalet gäller bara en del av tillståndsperioden: kameran analyseras bara då",
        "the agreement covers only part of the permit period: the camera is analysed only then",
    ),
    (
        "cam.agreement_none",
        "avtalet gäller inte under tillståndsperioden: kameran analyseras inte",
        "the agreement does not cover the permit period: the camera is not analysed",
    ),
    ("cam.fitness", "Lämplighet", "Fitness"),
    ("cam.available", "tillgänglig", "available"),
    (
        "cam.fitness_unmeasured",
        "inte mätt än (mäts bara medan ett tillstånd täcker kameran)",
        "not measured yet (measured only while a permit covers the camera)",
    ),
    ("fitness.fit", "lämplig", "fit"),
    ("fitness.unfit", "olämplig", "unfit"),
    ("fitness.unknown", "okänd", "unknown"),
    ("agreement.basis", "Rättslig grund", "Legal basis"),
    (
        "agreement.reference",
        "Avtalets diarienummer",
        "Agreement reference",
    ),
    ("agreement.from", "Första dag", "First day"),
    ("agreement.until", "Sista dag", "Last day"),
    (
        "agreement.contact",
        "Kontakt hos partnern",
        "Contact at the partner",
    ),
    (
        "admin.agreement_help",
        "Krävs för kommunens, regionens eller en privat aktörs kamera: den analyseras bara under avtalets period. Lämnas tomt för polisens kameror.",
        "Required for a municipality's, region's or private party's camera: it is analysed only within the agreement's period. Leave empty for police cameras.",
    ),
    (
        "notices.title",
        "Kameror som blivit olämpliga",
        "Cameras that became unfit",
    ),
    (
        "notices.help",
        "En kamera som ett tillstånd täcker har bedömts olämplig för identifiering. Träffar från den är mindre säkra; kontakta kamerans ägare.",
        "A camera a permit covers was judged unfit for identification. Hits from it are less certain; contact the camera's owner.",
    ),
    ("cam.disabled", "avstängd", "disabled"),
    (
        "cam.removed",
        "borttagen ur registret",
        "removed from the register",
    ),
    (
        "cert.rotated",
        "Nyckelepok bytt: äldre säkerhetskopior kan inte längre låsa upp datan",
        "Key epoch rotated: older backups can no longer unwrap the data",
    ),
    (
        "cert.not_rotated",
        "Nyckelepoken är inte bytt ännu: säkerhetskopior från före raderingen kan fortfarande låsa upp datan",
        "The key epoch is not rotated yet: backups from before the erasure can still unwrap the data",
    ),
    ("f.agency", "Myndighet", "Agency"),
    ("f.purpose", "Syfte", "Purpose"),
    ("f.offence", "Brott", "Offence"),
    (
        "f.annex",
        "Kategori (AI-förordningen bilaga II)",
        "Category (AI Act Annex II)",
    ),
    ("f.penalty", "Högsta straff (år)", "Maximum penalty (years)"),
    ("f.stage", "Brottsstadium", "Stage"),
    ("stage.completed", "fullbordat", "completed"),
    ("stage.attempt", "försök", "attempt"),
    ("stage.preparation", "förberedelse", "preparation"),
    ("stage.conspiracy", "stämpling", "conspiracy"),
    ("f.grounds", "Grund", "Legal ground"),
    (
        "f.offence_typed",
        "Annat brott (beskrivs nedan; en åklagare bekräftar det)",
        "Another offence (described below; a prosecutor confirms it)",
    ),
    (
        "f.offence_text",
        "Brottet, om det inte finns i katalogen",
        "The offence, if it is not in the catalogue",
    ),
    ("f.life", "livstid", "life"),
    ("f.years", "år", "years"),
    ("f.suspicion", "Misstankegrad", "Degree of suspicion"),
    ("suspicion.suspected", "kan misstänkas", "suspected"),
    (
        "suspicion.reasonably_suspected",
        "skäligen misstänkt",
        "reasonably suspected",
    ),
    (
        "suspicion.probable_cause",
        "på sannolika skäl misstänkt",
        "suspected on probable cause",
    ),
    ("f.victim", "Brottsoffer", "Victim"),
    ("victim.abduction", "bortförande", "abduction"),
    (
        "victim.trafficking_in_human_beings",
        "människohandel",
        "trafficking in human beings",
    ),
    (
        "victim.sexual_exploitation",
        "sexuellt utnyttjande",
        "sexual exploitation",
    ),
    (
        "victim.missing_person",
        "försvunnen person",
        "missing person",
    ),
    ("f.threat", "Hotet gäller", "Threat to"),
    ("threat.life", "liv", "life"),
    (
        "threat.physical_safety",
        "fysisk säkerhet",
        "physical safety",
    ),
    (
        "threat.terrorist_attack",
        "terroristattack",
        "terrorist attack",
    ),
    (
        "f.imminence",
        "Varför hotet är överhängande",
        "Why the threat is imminent",
    ),
    ("f.judgment", "Dom som verkställs", "Judgment enforced"),
    ("f.judgment_court", "Domstol", "Court"),
    (
        "f.judgment_case",
        "Domens målnummer",
        "The judgment's case number",
    ),
    ("f.legal_force", "Laga kraft", "Legal force"),
    ("f.offence_confirmed", "bekräftat av", "confirmed by"),
    (
        "f.offence_unconfirmed",
        "beskrivet för hand, ännu inte bekräftat av åklagare",
        "described by hand, not yet confirmed by a prosecutor",
    ),
    (
        "permit.confirm_offence",
        "Bekräfta brottet",
        "Confirm the offence",
    ),
    (
        "permit.hand_over",
        "Lämna över till åklagaren",
        "Hand over to the prosecutor",
    ),
    ("permit.handed_over", "Överlämnad av", "Handed over by"),
    (
        "f.decider_case",
        "Beslutsfattarens diarienummer",
        "The decider's case number",
    ),
    ("f.persons", "Utpekade personer", "Designated persons"),
    ("f.photos", "bilder", "photos"),
    ("photos.title", "Referensbilder för", "Reference photos of"),
    ("photos.link", "Referensbilder", "Reference photos"),
    (
        "photos.hint",
        "Ladda upp varje referensbild som ansökan anger. Kvalitetskontrollen visar ansiktet den hittade och vad den mätte innan bilden tas emot; ansökan kan lämnas in först när alla bilder är mottagna.",
        "Upload each reference photo the application lists. The quality gate shows the face it found and what it measured before the photo is taken; the application is filed only once every photo is in.",
    ),
    ("photos.photo", "Referensbild", "Reference photo"),
    ("photos.source", "Källa", "Source"),
    ("photos.enrolled", "Mottagen", "Enrolled"),
    ("photos.missing", "Inte uppladdad", "Not uploaded"),
    (
        "photos.choose",
        "Välj bild (JPEG eller PNG)",
        "Choose a photo (JPEG or PNG)",
    ),
    (
        "photos.upload",
        "Kontrollera och ladda upp",
        "Check and upload",
    ),
    (
        "photo.enrolled",
        "Bilden klarade kvalitetskontrollen och är mottagen.",
        "The photo passed the quality gate and is enrolled.",
    ),
    (
        "photos.refused",
        "Bilden togs inte emot:",
        "The photo was not enrolled:",
    ),
    ("photos.inter_eye", "Ögonavstånd", "Inter-eye distance"),
    ("photos.sharpness", "Skärpa", "Sharpness"),
    ("photos.pose", "Huvudets vinkel", "Pose"),
    (
        "photos.detector",
        "Detektorns säkerhet",
        "Detector confidence",
    ),
    ("photos.box", "Ansiktets ruta", "Face box"),
    (
        "photos.fault.faces",
        "Bilden visar {v} ansikten; en referensbild ska visa exakt ett. Beskär den till den utpekade personen.",
        "The photo shows {v} faces; a reference photo must show exactly one. Crop it to the designated person.",
    ),
    (
        "photos.fault.inter_eye_px",
        "Ögonen är {v} px isär, under minsta {l} px: ansiktet är för litet.",
        "The eyes are {v} px apart, under the minimum of {l} px: the face is too small.",
    ),
    (
        "photos.fault.sharpness",
        "Skärpan {v} är under minsta {l}: bilden är suddig eller för liten.",
        "Sharpness {v} is under the minimum of {l}: the photo is blurred or too small.",
    ),
    (
        "photos.fault.yaw",
        "Huvudet är för vridet (yaw {v}, gräns {l}); använd en bild rakt framifrån.",
        "The head is turned too far (yaw {v}, limit {l}); use a frontal photo.",
    ),
    (
        "photos.fault.detector_score",
        "Detektorns säkerhet {v} är under {l}: ansiktet syns inte tydligt.",
        "Detector confidence {v} is under {l}: the face is not clearly visible.",
    ),
    ("f.area", "Område", "Area"),
    ("f.polygon", "Polygon (punkter)", "Polygon (points)"),
    ("f.start", "Från", "From"),
    ("f.end", "Till", "To"),
    ("f.necessity", "Nödvändighet", "Necessity"),
    ("f.proportionality", "Proportionalitet", "Proportionality"),
    (
        "f.fria",
        "Konsekvensbedömning (FRIA)",
        "Impact assessment (FRIA)",
    ),
    (
        "f.eudb",
        "EU-databasens registrering",
        "EU database registration",
    ),
    ("f.threshold", "Tröskel", "Threshold"),
    (
        "f.fpir",
        "Högsta andel falsklarm bland förbipasserande",
        "Most false alerts per passer-by",
    ),
    (
        "f.fpir_help",
        "Tröskeln räknas fram ur kalibreringen för tillståndets antal personer. Kalibrering:",
        "The threshold is derived from the calibration for the permit's number of persons. Calibration:",
    ),
    (
        "f.uncalibrated",
        "Ingen kalibrering lagrad (en administratör kör mandat eval calibrate): tröskeln blir modellens publicerade cosinus,",
        "No calibration stored (an admin runs mandat eval calibrate): the threshold is the model's published cosine,",
    ),
    ("f.calibration", "kalibrering", "calibration"),
    ("f.model", "Modell", "Model"),
    ("f.limits", "Omfattning", "Size"),
    ("limits.max", "högst", "at most"),
    (
        "limits.none",
        "ingen gräns i profilen",
        "no cap in the profile",
    ),
    (
        "limits.passers_by",
        "Förbipasserande per dag, väntat:",
        "Passers-by per day, expected:",
    ),
    (
        "limits.passers_by_measured",
        "kameror mätta, ansiktsspår per driftdygn de senaste",
        "cameras measured, face tracks per day of running over the last",
    ),
    ("limits.passers_by_days", "dagarna", "days"),
    (
        "limits.passers_by_none",
        "inte mätt (ingen av kamerorna har analyserats en timme de senaste 30 dagarna)",
        "not measured (none of the cameras was analysed for an hour in the last 30 days)",
    ),
    (
        "limits.passers_by_unmeasured",
        "kameror utan mätning räknas inte med",
        "cameras without measurements are not counted",
    ),
    (
        "f.per_template",
        "tröskel per referensbild mot kohort",
        "a threshold per template, against cohort",
    ),
    ("risk.analysis", "Riskanalys", "Risk analysis"),
    (
        "risk.evaluated",
        "utvärdering av den körda modellen",
        "evaluation of the running model",
    ),
    ("risk.days_ago", "dagar sedan; högst", "days ago; at most"),
    (
        "risk.days_allowed",
        "dagar vid beviljande",
        "days at a grant",
    ),
    (
        "risk.refused",
        "Ett beviljande avslås nu:",
        "A grant is refused now:",
    ),
    (
        "risk.unreadable",
        "riskanalysen kan inte läsas nu; försök igen, eller be en administratör se serverns logg",
        "the risk analysis cannot be read now; try again, or ask an admin to look at the server's log",
    ),
    (
        "risk.false_alerts",
        "Förväntade falsklarm",
        "Expected false alerts",
    ),
    (
        "risk.per_10k",
        "per 10 000 förbipasserande som inte eftersöks",
        "per 10,000 passers-by not sought",
    ),
    ("risk.target", "tillståndets mål", "the permit's target"),
    (
        "risk.held_out",
        "kontroll på personer utanför kalibreringen",
        "check on people outside the calibration",
    ),
    ("risk.below", "under", "below"),
    ("risk.above", "över", "above"),
    (
        "risk.unknown",
        "okänt: ingen kalibrering av den körda modellen är lagrad",
        "unknown: no calibration of the running model is stored",
    ),
    ("risk.spread", "Demografisk spridning", "Demographic spread"),
    (
        "risk.spread_per_template",
        "sämsta/bästa falskmatchning med tröskel per referensbild",
        "worst/best false-match rate with a threshold per template",
    ),
    (
        "risk.spread_global",
        "med en gemensam tröskel",
        "with one global threshold",
    ),
    (
        "risk.spread_where",
        "UTKFace, vuxna, etnicitet × kön, vid utvärderingens arbetspunkt",
        "UTKFace, adults, race × gender, at the evaluation's operating point",
    ),
    ("risk.unbounded", "obegränsad", "unbounded"),
    (
        "f.no_threshold",
        "ingen tröskel: referensbilden matchas inte",
        "no threshold: the template is not matched",
    ),
    (
        "f.plain_cosine",
        "okalibrerad cosinus",
        "uncalibrated cosine",
    ),
    ("f.applied", "Ansökt", "Applied"),
    ("f.urgent", "Brådskande start", "Urgent start"),
    ("f.decider", "Beslutas av", "Decided by"),
    (
        "f.person_label",
        "Person (beskrivning)",
        "Person (description)",
    ),
    ("f.photo_source", "Bildkällor", "Photo sources"),
    (
        "f.photo_source_hint",
        "En rad per referensbild. Varje bild matchas för sig, så tröskeln räknas för alla bilder.",
        "One line per reference photo. Each photo is matched on its own, so the threshold is derived for all of them.",
    ),
    ("f.none", "inget", "none"),
    ("authority.court", "Domstol", "Court"),
    ("authority.prosecutor", "Åklagare", "Prosecutor"),
    ("audit.title", "Granskningslogg", "Audit log"),
    ("audit.verify", "Verifiera kedjan", "Verify chain"),
    ("audit.intact", "Kedjan är obruten", "The chain is intact"),
    ("audit.broken", "Kedjan är bruten", "The chain is broken"),
    ("audit.entries", "poster", "entries"),
    (
        "audit.checkpoints",
        "signerade kontrollpunkter",
        "signed checkpoints",
    ),
    ("audit.filter", "Filtrera", "Filter"),
    ("audit.shown", "visas", "shown"),
    (
        "imy.title",
        "Underrättelser till IMY",
        "Notifications to IMY",
    ),
    (
        "imy.none",
        "Inga underrättelser ännu.",
        "No notifications yet.",
    ),
    ("imy.kind", "Avser", "Concerns"),
    ("imy.use_started", "Användning påbörjad", "Use started"),
    ("imy.use_ended", "Användning avslutad", "Use ended"),
    ("imy.created", "Skapad", "Created"),
    ("imy.sent", "Skickad", "Sent"),
    ("imy.ack", "Kvitterad av IMY", "Acknowledged by IMY"),
    ("imy.not_sent", "Ej skickad", "Not sent"),
    ("imy.mark_sent", "Markera skickad", "Mark as sent"),
    ("imy.reference", "IMY:s diarienummer", "IMY's reference"),
    (
        "imy.mark_ack",
        "Registrera kvittens",
        "Record acknowledgement",
    ),
    (
        "imy.done",
        "Registret är uppdaterat.",
        "The register is updated.",
    ),
    (
        "annual.title",
        "Årsrapport (AI-förordningen art. 5.6)",
        "Annual report (AI Act art. 5(6))",
    ),
    (
        "annual.about",
        "Ansökningar, beslut, brådskande starter, användning, larm och underrättelser per ändamål. Endast antal.",
        "Applications, decisions, urgent starts, uses, alerts and subject notifications per purpose. Counts only.",
    ),
    ("annual.year", "År", "Year"),
    ("annual.format", "Format", "Format"),
    ("annual.download", "Hämta", "Download"),
    (
        "subjects.title",
        "Underrättelser till enskilda",
        "Subject notifications",
    ),
    (
        "subjects.none",
        "Inga öppna underrättelser.",
        "No open subject notifications.",
    ),
    ("subjects.due", "Senast", "Due"),
    (
        "subjects.about",
        "En uppgift per person och tillstånd, att underrätta när användningen har upphört. Det första uppskovet beslutar handläggaren själv; senare uppskov godkänns av en åklagare i ärendet, och att underrättelse inte ska ske beslutas av den som beslutade om tillståndet.",
        "One task per person and permit, to notify when the use has ended. The first deferral is the case holder's own; later ones are approved by a prosecutor of the permit, and not notifying at all is decided by whoever decided the permit.",
    ),
    (
        "subjects.identifications",
        "Identifieringar",
        "Identifications",
    ),
    (
        "subjects.awaiting.prosecutor",
        "Väntar på åklagare",
        "Awaiting a prosecutor",
    ),
    (
        "subjects.awaiting.decider",
        "Väntar på beslutsfattaren",
        "Awaiting the decider",
    ),
    (
        "subjects.waiver",
        "Begär att underrättelse inte sker",
        "Ask not to notify",
    ),
    (
        "subjects.waiver.reasons",
        "Skäl för att inte underrätta",
        "Reasons not to notify",
    ),
    (
        "subjects.waiver.asked",
        "Begärt att underrättelse inte sker",
        "Asked not to notify",
    ),
    (
        "subjects.requested",
        "Begärt uppskov till",
        "Deferral asked until",
    ),
    ("subjects.approve", "Godkänn", "Approve"),
    (
        "subjects.waiver.approve",
        "Besluta att underrättelse inte sker",
        "Decide not to notify",
    ),
    (
        "subjects.waiver.refuse",
        "Avslå: personen ska underrättas",
        "Refuse: the person is to be notified",
    ),
    ("subjects.reject", "Avslå", "Reject"),
    (
        "subjects.decision.reasons",
        "Skäl för beslutet",
        "Reasons for the decision",
    ),
    ("subjects.deferrals", "Uppskov", "Deferrals"),
    ("subjects.overdue", "Försenad", "Overdue"),
    ("subjects.done", "Underrättad", "Notified"),
    ("subjects.defer", "Skjut upp", "Defer"),
    (
        "subjects.reason",
        "Skäl (t.ex. sekretess)",
        "Reason (e.g. secrecy)",
    ),
    ("subjects.until", "Ny dag", "New date"),
    (
        "subjects.updated",
        "Underrättelsen är uppdaterad.",
        "The notification is updated.",
    ),
    ("admin.users", "Användare", "Users"),
    ("admin.add_user", "Lägg till användare", "Add user"),
    ("admin.add_camera", "Lägg till kamera", "Add camera"),
    (
        "admin.stream",
        "Ström-URL (lagras krypterad)",
        "Stream URL (stored encrypted)",
    ),
    ("admin.lat", "Latitud", "Latitude"),
    ("admin.lon", "Longitud", "Longitude"),
    ("admin.done", "Sparat.", "Saved."),
    ("admin.disabled", "Avstängd", "Disabled"),
    ("admin.agency", "Myndighet", "Agency"),
    ("admin.disable", "Stäng av", "Disable"),
    ("admin.revoke", "Avsluta sessioner", "End sessions"),
    ("admin.not_enrolled", "Ej aktiverat", "Not enrolled"),
    (
        "admin.pending",
        "Väntar på godkännande",
        "Awaiting approval",
    ),
    ("admin.approve", "Godkänn", "Approve"),
    ("admin.set_roles", "Ändra roller", "Set roles"),
    ("admin.new_code", "Ny engångskod", "New enrolment code"),
    ("admin.code_title", "Engångskod", "Enrolment code"),
    ("admin.code_for", "Engångskod för", "Enrolment code for"),
    (
        "admin.code_once",
        "Lämna koden personligen. Den visas bara nu och gäller i 72 timmar.",
        "Hand the code over in person. It is shown only now and is valid for 72 hours.",
    ),
    (
        "admin.code_grant",
        "Rollerna gäller först när en andra administratör har godkänt dem.",
        "The roles take effect only when a second administrator approves them.",
    ),
    (
        "admin.nobio",
        "Administratörer ser aldrig biometriska uppgifter.",
        "Administrators never see biometric data.",
    ),
    ("error.title", "Det gick inte", "That did not work"),
    ("error.rule", "Rättslig grund", "Legal ground"),
    ("error.back", "Tillbaka", "Back"),
    ("state.candidate", "väntar", "pending"),
    ("state.verified", "verifierad", "verified"),
    ("state.rejected", "avvisad", "rejected"),
    ("state.expired", "förfallen", "expired"),
    ("status.draft", "utkast", "draft"),
    ("status.applied", "ansökt", "applied"),
    ("status.granted", "beviljat", "granted"),
    ("status.refused", "avslaget", "refused"),
    ("status.stopped", "avslutat", "stopped"),
    (
        "status.urgent_active",
        "brådskande, ej ansökt",
        "urgent, not applied",
    ),
    (
        "status.urgent_applied",
        "brådskande, ansökt",
        "urgent, applied",
    ),
    (
        "purpose.victim_search",
        "Söka brottsoffer eller försvunnen person",
        "Find a victim or missing person",
    ),
    (
        "purpose.imminent_threat",
        "Avvärja överhängande hot mot liv eller säkerhet",
        "Stop an imminent threat to life or safety",
    ),
    (
        "purpose.suspect_location",
        "Lokalisera misstänkt (minst 4 år)",
        "Locate a suspect (at least 4 years)",
    ),
    (
        "purpose.sentence_enforcement",
        "Verkställa straff (minst 4 år)",
        "Enforce a sentence (at least 4 years)",
    ),
];

/// The text for `key`. An unknown key shows itself, so a gap is visible rather than silent.
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    TEXTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, sv, en)| match lang {
            Lang::Sv => *sv,
            Lang::En => *en,
        })
        .unwrap_or(key)
}

/// Like [`t`] for keys built at run time (states, purposes); unknown keys show the raw value.
pub fn t_dyn(lang: Lang, prefix: &str, value: &str) -> String {
    let key = format!("{prefix}.{value}");
    TEXTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, sv, en)| match lang {
            Lang::Sv => (*sv).to_string(),
            Lang::En => (*en).to_string(),
        })
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, sv, en) in TEXTS {
            assert!(seen.insert(*k), "duplicate key {k}");
            assert!(!sv.is_empty() && !en.is_empty(), "empty text for {k}");
        }
    }

    #[test]
    fn every_state_and_purpose_has_words() {
        for s in ["candidate", "verified", "rejected", "expired"] {
            assert_ne!(t_dyn(Lang::Sv, "state", s), s);
        }
        for p in [
            "victim_search",
            "imminent_threat",
            "suspect_location",
            "sentence_enforcement",
        ] {
            assert_ne!(t_dyn(Lang::En, "purpose", p), p);
        }
        assert_eq!(t(Lang::Sv, "nav.review"), "Granskning");
        assert_eq!(t(Lang::En, "nav.review"), "Review");
    }
}
