"""Everything a user reads, in the four seed languages: widget titles and descriptions, metric
labels and the labels of fixed breakdown keys.

English titles follow the seed documents (`Email - Bounce categories`); the other languages
use the seed translations where they exist and our own otherwise. A locale is resolved from
its language part (`fr-CA` is `fr`); anything unsupported is English.
"""

from __future__ import annotations

from campaignreports.domain.definitions import DEFINITIONS, ERROR_TYPE_TEXT

LOCALES: tuple[str, ...] = ("en", "fr", "sv", "nl")
DEFAULT_LOCALE = "en"


def resolve_locale(locale: str) -> str:
    language = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE


# widget id -> locale -> (title, description)
WIDGET_TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "campaign_statistics": {
        "en": ("Campaign statistics", "Profiles that entered the campaign."),
        "fr": ("Statistiques de la campagne", "Profils entrés dans la campagne."),
        "sv": ("Kampanjstatistik", "Profiler som gick in i kampanjen."),
        "nl": ("Campagnestatistieken", "Profielen die de campagne zijn binnengekomen."),
    },
    "campaign_funnel": {
        "en": (
            "Campaign funnel",
            "Targeted, sent, delivered, opened and clicked across every channel, each step's rate "
            "against the step before.",
        ),
        "fr": (
            "Entonnoir de la campagne",
            "Ciblés, envoyés, délivrés, ouverts et cliqués sur tous les canaux, chaque étape rapportée "
            "à la précédente.",
        ),
        "sv": (
            "Kampanjtratt",
            "Målgrupp, skickade, levererade, öppnade och klickade i alla kanaler, varje steg i "
            "förhållande till steget före.",
        ),
        "nl": (
            "Campagnetrechter",
            "Getarget, verzonden, afgeleverd, geopend en geklikt over alle kanalen, elke stap ten "
            "opzichte van de vorige.",
        ),
    },
    "campaign_reach_by_channel": {
        "en": ("Reach by channel", "What reached its recipients in each channel of the campaign."),
        "fr": ("Portée par canal", "Ce qui a atteint ses destinataires dans chaque canal de la campagne."),
        "sv": ("Räckvidd per kanal", "Det som nådde sina mottagare i varje kanal i kampanjen."),
        "nl": ("Bereik per kanaal", "Wat de ontvangers bereikte in elk kanaal van de campagne."),
    },
    "email_funnel": {
        "en": (
            "Email - Funnel",
            "Targeted, sent, delivered, opened and clicked, each step's rate against the step before.",
        ),
        "fr": (
            "Email - Entonnoir",
            "Ciblés, envoyés, délivrés, ouverts et cliqués, chaque étape rapportée à la précédente.",
        ),
        "sv": (
            "E-post - Tratt",
            "Målgrupp, skickade, levererade, öppnade och klickade, varje steg i förhållande till "
            "steget före.",
        ),
        "nl": (
            "E-mail - Trechter",
            "Getarget, verzonden, afgeleverd, geopend en geklikt, elke stap ten opzichte van de vorige.",
        ),
    },
    "email_sending_statistics": {
        "en": (
            "Email - Sending statistics",
            "Essential data about your email such as Targeted or Delivered.",
        ),
        "fr": (
            "Email - Statistiques d'envoi",
            "Données essentielles de votre email, comme les ciblés ou les délivrés.",
        ),
        "sv": (
            "E-post - Sändningsstatistik",
            "Viktiga uppgifter om din e-post, till exempel målgrupp och levererade.",
        ),
        "nl": (
            "E-mail - Verzendstatistieken",
            "Essentiële gegevens over uw e-mail, zoals getarget of afgeleverd.",
        ),
    },
    "email_statistics": {
        "en": (
            "Email - Statistics",
            "Profile activity for your email: sending, opens, clicks and reactions.",
        ),
        "fr": (
            "Email - Statistiques",
            "Activité des profils pour votre email : envois, ouvertures, clics et réactions.",
        ),
        "sv": (
            "E-post - Statistik",
            "Profilaktivitet för din e-post: utskick, öppningar, klick och reaktioner.",
        ),
        "nl": (
            "E-mail - Statistieken",
            "Profielactiviteit voor uw e-mail: verzending, opens, kliks en reacties.",
        ),
    },
    "email_summary": {
        "en": (
            "Email summary",
            "Sent, delivered, opens, clicks, bounces, errors, unsubscribes and spam complaints over time.",
        ),
        "fr": (
            "Résumé de l'email",
            "Envoyés, délivrés, ouvertures, clics, rebonds, erreurs, désabonnements et plaintes au "
            "fil du temps.",
        ),
        "sv": (
            "E-postsammanfattning",
            "Skickade, levererade, öppningar, klick, studsar, fel, avregistreringar och klagomål över tid.",
        ),
        "nl": (
            "E-mailoverzicht",
            "Verzonden, afgeleverd, opens, kliks, bounces, fouten, afmeldingen en spamklachten in de tijd.",
        ),
    },
    "email_performance_by_date": {
        "en": ("Email - Performance by date", "Sent emails over time, with deliveries, bounces and errors."),
        "fr": (
            "Email - Performances par date",
            "Emails envoyés au fil du temps, avec délivrés, rebonds et erreurs.",
        ),
        "sv": (
            "E-post - Resultat per datum",
            "Skickade e-postmeddelanden över tid, med leveranser, studsar och fel.",
        ),
        "nl": (
            "E-mail - Prestaties per datum",
            "Verzonden e-mails in de tijd, met afleveringen, bounces en fouten.",
        ),
    },
    "email_bounce_categories": {
        "en": (
            "Email - Bounce categories",
            "Bounces by category: hard (permanent), soft (temporary) and ignored.",
        ),
        "fr": (
            "Email - Catégories de rebonds",
            "Rebonds par catégorie : définitifs, temporaires et ignorés.",
        ),
        "sv": (
            "E-post - Studskategorier",
            "Studsar per kategori: hårda (permanenta), mjuka (tillfälliga) och ignorerade.",
        ),
        "nl": (
            "E-mail - Bouncecategorieën",
            "Bounces per categorie: hard (permanent), soft (tijdelijk) en genegeerd.",
        ),
    },
    "email_bounce_reasons": {
        "en": ("Email - Bounces reasons", "Bounced messages by reason."),
        "fr": ("Email - Raisons des rebonds", "Messages en rebond par raison."),
        "sv": ("E-post - Orsaker till studsar", "Studsade meddelanden per orsak."),
        "nl": ("E-mail - Redenen voor bounces", "Gebounste berichten per reden."),
    },
    "email_error_reasons": {
        "en": ("Email - Error reasons", "The errors that occurred during the sending process, by reason."),
        "fr": ("Email - Raisons des erreurs", "Les erreurs survenues pendant l'envoi, par raison."),
        "sv": ("E-post - Felorsaker", "Fel som uppstod under sändningen, per orsak."),
        "nl": ("E-mail - Foutredenen", "De fouten die tijdens het verzenden optraden, per reden."),
    },
    "email_excluded_reasons": {
        "en": (
            "Email - Excluded reasons",
            "Why targeted profiles were excluded and did not receive the message.",
        ),
        "fr": (
            "Email - Raisons d'exclusion",
            "Pourquoi des profils ciblés ont été exclus et n'ont pas reçu le message.",
        ),
        "sv": (
            "E-post - Uteslutningsorsaker",
            "Varför profiler i målgruppen uteslöts och inte fick meddelandet.",
        ),
        "nl": (
            "E-mail - Redenen voor uitsluiting",
            "Waarom getargete profielen zijn uitgesloten en het bericht niet ontvingen.",
        ),
    },
    "email_top_recipient_domains": {
        "en": (
            "Email - Best recipient domain",
            "The recipient domains that open the email most, with their sending figures.",
        ),
        "fr": (
            "Email - Meilleurs domaines destinataires",
            "Les domaines des destinataires qui ouvrent le plus l'email, avec leurs chiffres d'envoi.",
        ),
        "sv": (
            "E-post - Bästa mottagardomäner",
            "Mottagardomänerna som öppnar e-posten mest, med deras sändningssiffror.",
        ),
        "nl": (
            "E-mail - Beste ontvangersdomeinen",
            "De ontvangersdomeinen die de e-mail het vaakst openen, met hun verzendcijfers.",
        ),
    },
    "email_delivery_summary": {
        "en": (
            "Email - Delivery summary",
            "Sent, delivered, bounces, distinct opens and distinct clicks, with rates.",
        ),
        "fr": (
            "Email - Présentation de la diffusion",
            "Envoyés, délivrés, rebonds, ouvertures et clics distincts, avec leurs taux.",
        ),
        "sv": (
            "E-post - Leveransöversikt",
            "Skickade, levererade, studsar, unika öppningar och unika klick, med andelar.",
        ),
        "nl": (
            "E-mail - Leveringsoverzicht",
            "Verzonden, afgeleverd, bounces, unieke opens en unieke kliks, met percentages.",
        ),
    },
    "email_target_audience": {
        "en": ("Email - Initial target audience", "Targeted profiles, messages to deliver and exclusions."),
        "fr": (
            "Email - Statistiques initiales d'audience cible",
            "Profils ciblés, messages à diffuser et exclusions.",
        ),
        "sv": (
            "E-post - Ursprunglig målgrupp",
            "Profiler i målgruppen, meddelanden att leverera och uteslutningar.",
        ),
        "nl": (
            "E-mail - Oorspronkelijke doelgroep",
            "Getargete profielen, te bezorgen berichten en uitsluitingen.",
        ),
    },
    "email_execution_statistics": {
        "en": (
            "Email - Execution statistics",
            "Successes, errors (with bounces) and new quarantines against the messages to deliver.",
        ),
        "fr": (
            "Email - Statistiques d'exécution",
            "Succès, erreurs (rebonds compris) et nouvelles quarantaines rapportés aux messages à diffuser.",
        ),
        "sv": (
            "E-post - Körningsstatistik",
            "Lyckade, fel (med studsar) och nya karantäner mot meddelanden att leverera.",
        ),
        "nl": (
            "E-mail - Uitvoeringsstatistieken",
            "Geslaagd, fouten (met bounces) en nieuwe quarantaines t.o.v. te bezorgen berichten.",
        ),
    },
    "email_reaction_statistics": {
        "en": (
            "Email - Reaction statistics",
            "Recipient activity: opens, unsubscribes, mirror page views and forwards.",
        ),
        "fr": (
            "Email - Statistiques de réaction",
            "Activité des destinataires : ouvertures, désabonnements, page miroir et transferts.",
        ),
        "sv": (
            "E-post - Reaktionsstatistik",
            "Mottagarnas aktivitet: öppningar, avregistreringar, spegelsidor och vidarebefordringar.",
        ),
        "nl": (
            "E-mail - Reactiestatistieken",
            "Activiteit van ontvangers: opens, afmeldingen, spiegelpagina's en doorsturingen.",
        ),
    },
    "email_clickstreams": {
        "en": (
            "Email - Generated clickstreams",
            "How recipients clicked: distinct clicks, clicks and reactivity.",
        ),
        "fr": (
            "Email - Flux de clics générés",
            "Comment les destinataires ont cliqué : clics distincts, clics et réactivité.",
        ),
        "sv": (
            "E-post - Genererade klickflöden",
            "Hur mottagarna klickade: unika klick, klick och reaktivitet.",
        ),
        "nl": (
            "E-mail - Gegenereerde klikstromen",
            "Hoe ontvangers klikten: unieke kliks, kliks en reactiviteit.",
        ),
    },
    "email_errors_by_domain": {
        "en": ("Email - Errors by domain", "Errors and bounces per recipient domain, by error type."),
        "fr": (
            "Email - Ventilation des erreurs par domaine",
            "Erreurs et rebonds par domaine destinataire et par type d'erreur.",
        ),
        "sv": ("E-post - Fel per domän", "Fel och studsar per mottagardomän och feltyp."),
        "nl": ("E-mail - Fouten per domein", "Fouten en bounces per ontvangersdomein en fouttype."),
    },
    "email_top_links": {
        "en": ("Email - Top 10 links", "The ten most clicked links, with their share of all clicks."),
        "fr": (
            "Email - 10 liens les plus consultés",
            "Les dix liens les plus cliqués, avec leur part de tous les clics.",
        ),
        "sv": ("E-post - Topp 10 länkar", "De tio mest klickade länkarna, med deras andel av alla klick."),
        "nl": ("E-mail - Top 10 links", "De tien meest aangeklikte links, met hun aandeel in alle kliks."),
    },
    "email_user_activities": {
        "en": ("Email - User activities", "Opens and clicks over time."),
        "fr": ("Email - Activités utilisateurs", "Ouvertures et clics au fil du temps."),
        "sv": ("E-post - Användaraktiviteter", "Öppningar och klick över tid."),
        "nl": ("E-mail - Gebruikersactiviteiten", "Opens en kliks in de tijd."),
    },
    "inapp_performance": {
        "en": (
            "In-app performance",
            "Visitors' engagement with in-app messages: impressions and interactions.",
        ),
        "fr": (
            "Performances in-app",
            "Engagement des visiteurs avec les messages in-app : impressions et interactions.",
        ),
        "sv": ("In-app-resultat", "Besökarnas engagemang i in-app-meddelanden: visningar och interaktioner."),
        "nl": (
            "In-app-prestaties",
            "Betrokkenheid van bezoekers bij in-app-berichten: vertoningen en interacties.",
        ),
    },
    "inapp_summary": {
        "en": ("In-app summary", "In-app impressions and interactions over time."),
        "fr": ("Résumé in-app", "Impressions et interactions in-app au fil du temps."),
        "sv": ("In-app-sammanfattning", "In-app-visningar och interaktioner över tid."),
        "nl": ("In-app-overzicht", "In-app-vertoningen en interacties in de tijd."),
    },
    "inapp_interactions_by_type": {
        "en": (
            "Interactions by type",
            "How users interacted with your in-app message: clicks, dismissals and more.",
        ),
        "fr": (
            "Interactions par type",
            "Comment les utilisateurs ont interagi avec votre message in-app : clics, fermetures, etc.",
        ),
        "sv": (
            "Interaktioner per typ",
            "Hur användarna interagerade med ditt in-app-meddelande: klick, stängningar med mera.",
        ),
        "nl": (
            "Interacties per type",
            "Hoe gebruikers met uw in-app-bericht omgingen: kliks, sluitingen en meer.",
        ),
    },
    "push_sending_performance": {
        "en": (
            "Push notification - Sending performance",
            "Essential data about your push notification such as errors or delivered messages.",
        ),
        "fr": (
            "Notification push - Performances d'envoi",
            "Données essentielles de votre notification push, comme les erreurs ou les messages délivrés.",
        ),
        "sv": (
            "Push-meddelande - Sändningsresultat",
            "Viktiga uppgifter om din push-notis, till exempel fel och levererade meddelanden.",
        ),
        "nl": (
            "Pushmelding - Verzendprestaties",
            "Essentiële gegevens over uw pushmelding, zoals fouten of afgeleverde berichten.",
        ),
    },
    "push_statistics": {
        "en": ("Push notification - Statistics", "Recipient activity for your push notification."),
        "fr": (
            "Notification push - Statistiques",
            "Activité des destinataires pour votre notification push.",
        ),
        "sv": ("Push-meddelande - Statistik", "Mottagarnas aktivitet för din push-notis."),
        "nl": ("Pushmelding - Statistieken", "Activiteit van ontvangers voor uw pushmelding."),
    },
    "push_sending_summary": {
        "en": (
            "Push notification - Sending summary",
            "Sent, delivered and failed push notifications over time.",
        ),
        "fr": (
            "Notification push - Résumé des envois",
            "Notifications push envoyées, délivrées et en erreur au fil du temps.",
        ),
        "sv": (
            "Push-meddelande - Sändningssammanfattning",
            "Skickade, levererade och misslyckade push-notiser över tid.",
        ),
        "nl": (
            "Pushmelding - Verzendoverzicht",
            "Verzonden, afgeleverde en mislukte pushmeldingen in de tijd.",
        ),
    },
    "push_sending_failed": {
        "en": ("Sending statistics - Failed", "How many errors and bounces occurred."),
        "fr": ("Statistiques d'envoi - Échecs", "Nombre d'erreurs et de rebonds survenus."),
        "sv": ("Sändningsstatistik - Misslyckade", "Hur många fel och studsar som inträffade."),
        "nl": ("Verzendstatistieken - Mislukt", "Hoeveel fouten en bounces er optraden."),
    },
    "push_error_reasons": {
        "en": (
            "Push notification - Error reasons",
            "The errors that occurred during the sending process, by reason.",
        ),
        "fr": (
            "Notification push - Raisons des erreurs",
            "Les erreurs survenues pendant l'envoi, par raison.",
        ),
        "sv": ("Push-meddelande - Felorsaker", "Fel som uppstod under sändningen, per orsak."),
        "nl": ("Pushmelding - Foutredenen", "De fouten die tijdens het verzenden optraden, per reden."),
    },
    "push_excluded_reasons": {
        "en": (
            "Push notification - Excluded reasons",
            "Why targeted profiles were excluded and did not receive the message.",
        ),
        "fr": (
            "Notification push - Raisons d'exclusion",
            "Pourquoi des profils ciblés ont été exclus et n'ont pas reçu le message.",
        ),
        "sv": (
            "Push-meddelande - Uteslutningsorsaker",
            "Varför profiler i målgruppen uteslöts och inte fick meddelandet.",
        ),
        "nl": (
            "Pushmelding - Redenen voor uitsluiting",
            "Waarom getargete profielen zijn uitgesloten en het bericht niet ontvingen.",
        ),
    },
    "push_breakdown_by_platform": {
        "en": (
            "Push notification - Breakdown by platform",
            "Sending and tracking of your push notifications per operating system.",
        ),
        "fr": (
            "Notification push - Répartition par plateforme",
            "Envoi et suivi de vos notifications push par système d'exploitation.",
        ),
        "sv": (
            "Push-meddelande - Uppdelning per plattform",
            "Sändning och spårning av dina push-notiser per operativsystem.",
        ),
        "nl": (
            "Pushmelding - Uitsplitsing per platform",
            "Verzending en tracking van uw pushmeldingen per besturingssysteem.",
        ),
    },
    "push_sending_by_platform": {
        "en": (
            "Push notification - Sending by platform",
            "Sent and delivered push notifications per operating system.",
        ),
        "fr": (
            "Notification push - Envois par plateforme",
            "Notifications push envoyées et délivrées par système d'exploitation.",
        ),
        "sv": (
            "Push-meddelande - Sändning per plattform",
            "Skickade och levererade push-notiser per operativsystem.",
        ),
        "nl": (
            "Pushmelding - Verzending per platform",
            "Verzonden en afgeleverde pushmeldingen per besturingssysteem.",
        ),
    },
    "push_tracking_by_platform": {
        "en": (
            "Push notification - Tracking by platform",
            "Opens, actions and engagements per operating system.",
        ),
        "fr": (
            "Notification push - Suivi par plateforme",
            "Ouvertures, actions et engagements par système d'exploitation.",
        ),
        "sv": (
            "Push-meddelande - Spårning per plattform",
            "Öppningar, åtgärder och engagemang per operativsystem.",
        ),
        "nl": (
            "Pushmelding - Tracking per platform",
            "Opens, acties en betrokkenheid per besturingssysteem.",
        ),
    },
    "sms_statistics": {
        "en": (
            "SMS - Statistics",
            "Essential data about your SMS messages such as targeted or delivered messages.",
        ),
        "fr": (
            "SMS - Statistiques",
            "Données essentielles de vos SMS, comme les messages ciblés ou délivrés.",
        ),
        "sv": (
            "SMS - Statistik",
            "Viktiga uppgifter om dina SMS, till exempel målgrupp och levererade meddelanden.",
        ),
        "nl": (
            "Sms - Statistieken",
            "Essentiële gegevens over uw sms-berichten, zoals getargete of afgeleverde berichten.",
        ),
    },
    "sms_performance_by_date": {
        "en": ("SMS - Performance by date", "Sent, delivered, bounced and failed SMS messages over time."),
        "fr": (
            "SMS - Performances par date",
            "SMS envoyés, délivrés, en rebond et en erreur au fil du temps.",
        ),
        "sv": ("SMS - Resultat per datum", "Skickade, levererade, studsade och misslyckade SMS över tid."),
        "nl": (
            "Sms - Prestaties per datum",
            "Verzonden, afgeleverde, gebounste en mislukte sms-berichten in de tijd.",
        ),
    },
    "sms_excluded_reasons": {
        "en": (
            "SMS - Excluded reasons",
            "Why targeted profiles were excluded and did not receive the message.",
        ),
        "fr": (
            "SMS - Raisons d'exclusion",
            "Pourquoi des profils ciblés ont été exclus et n'ont pas reçu le message.",
        ),
        "sv": (
            "SMS - Uteslutningsorsaker",
            "Varför profiler i målgruppen uteslöts och inte fick meddelandet.",
        ),
        "nl": (
            "Sms - Redenen voor uitsluiting",
            "Waarom getargete profielen zijn uitgesloten en het bericht niet ontvingen.",
        ),
    },
    "sms_bounce_reasons": {
        "en": ("SMS - Bounces reasons", "Bounced messages by reason."),
        "fr": ("SMS - Raisons des rebonds", "Messages en rebond par raison."),
        "sv": ("SMS - Orsaker till studsar", "Studsade meddelanden per orsak."),
        "nl": ("Sms - Redenen voor bounces", "Gebounste berichten per reden."),
    },
    "sms_error_reasons": {
        "en": ("SMS - Error reasons", "The errors that occurred during the sending process, by reason."),
        "fr": ("SMS - Raisons des erreurs", "Les erreurs survenues pendant l'envoi, par raison."),
        "sv": ("SMS - Felorsaker", "Fel som uppstod under sändningen, per orsak."),
        "nl": ("Sms - Foutredenen", "De fouten die tijdens het verzenden optraden, per reden."),
    },
    "web_performance": {
        "en": (
            "Web performance",
            "Visitors' engagement with your web experiences: impressions and interactions.",
        ),
        "fr": (
            "Performances web",
            "Engagement des visiteurs avec vos expériences web : impressions et interactions.",
        ),
        "sv": ("Webbresultat", "Besökarnas engagemang i dina webbupplevelser: visningar och interaktioner."),
        "nl": (
            "Webprestaties",
            "Betrokkenheid van bezoekers bij uw webervaringen: vertoningen en interacties.",
        ),
    },
    "web_summary": {
        "en": ("Web summary", "Impressions, unique impressions and interactions over time."),
        "fr": ("Résumé web", "Impressions, impressions uniques et interactions au fil du temps."),
        "sv": ("Webbsammanfattning", "Visningar, unika visningar och interaktioner över tid."),
        "nl": ("Weboverzicht", "Vertoningen, unieke vertoningen en interacties in de tijd."),
    },
    "web_interactions_by_element": {
        "en": ("Interactions by element", "Visitors' engagement with the elements of your web pages."),
        "fr": ("Interactions par élément", "Engagement des visiteurs avec les éléments de vos pages web."),
        "sv": ("Interaktioner per element", "Besökarnas engagemang med elementen på dina webbsidor."),
        "nl": ("Interacties per element", "Betrokkenheid van bezoekers bij de elementen van uw webpagina's."),
    },
    "direct_mail_sending_statistics": {
        "en": (
            "Direct Mail - Sending statistics",
            "Essential data about your direct mail such as targeted or sent messages.",
        ),
        "fr": (
            "Courrier - Statistiques d'envoi",
            "Données essentielles de votre courrier, comme les messages ciblés ou envoyés.",
        ),
        "sv": (
            "Direktreklam - Sändningsstatistik",
            "Viktiga uppgifter om din direktreklam, till exempel målgrupp och skickade.",
        ),
        "nl": (
            "Direct mail - Verzendstatistieken",
            "Essentiële gegevens over uw direct mail, zoals getargete of verzonden berichten.",
        ),
    },
    "direct_mail_excluded_reasons": {
        "en": (
            "Direct Mail - Excluded reasons",
            "Why targeted profiles were excluded and did not receive the message.",
        ),
        "fr": (
            "Courrier - Raisons d'exclusion",
            "Pourquoi des profils ciblés ont été exclus et n'ont pas reçu le message.",
        ),
        "sv": (
            "Direktreklam - Uteslutningsorsaker",
            "Varför profiler i målgruppen uteslöts och inte fick meddelandet.",
        ),
        "nl": (
            "Direct mail - Redenen voor uitsluiting",
            "Waarom getargete profielen zijn uitgesloten en het bericht niet ontvingen.",
        ),
    },
    "direct_mail_error_reasons": {
        "en": ("Direct Mail - Error reasons", "The errors that occurred, by reason."),
        "fr": ("Courrier - Raisons des erreurs", "Les erreurs survenues, par raison."),
        "sv": ("Direktreklam - Felorsaker", "Fel som uppstod, per orsak."),
        "nl": ("Direct mail - Foutredenen", "De fouten die optraden, per reden."),
    },
    "experiment_treatments": {
        "en": (
            "Experiment - Treatments",
            "Each treatment against the control: rates, lift, significance and the winner.",
        ),
        "fr": (
            "Expérience - Traitements",
            "Chaque traitement face au contrôle : taux, progression, significativité et gagnant.",
        ),
        "sv": (
            "Experiment - Behandlingar",
            "Varje behandling mot kontrollgruppen: andelar, lyft, signifikans och vinnare.",
        ),
        "nl": (
            "Experiment - Behandelingen",
            "Elke behandeling tegenover de controle: percentages, lift, significantie en winnaar.",
        ),
    },
    "email_errors_by_type": {
        "en": ("Email - Errors by type", "Errors and bounces by error type, from the reason of each."),
        "fr": (
            "Email - Ventilation des erreurs par type",
            "Erreurs et rebonds par type d'erreur, selon leur raison.",
        ),
        "sv": ("E-post - Fel per typ", "Fel och studsar per feltyp, utifrån varje orsak."),
        "nl": ("E-mail - Fouten per type", "Fouten en bounces per fouttype, op basis van elke reden."),
    },
    "email_tracking_indicators": {
        "en": (
            "Email - Delivery statistics",
            "Tracking indicators: successes, opens, opt-out and mirror link clicks, estimated forwards.",
        ),
        "fr": (
            "Email - Statistiques de diffusion",
            "Indicateurs de tracking : succès, ouvertures, clics sur les liens d'exclusion et miroir, "
            "transferts estimés.",
        ),
        "sv": (
            "E-post - Leveransstatistik",
            "Spårningsindikatorer: lyckade, öppningar, klick på avregistrerings- och spegellänk, "
            "uppskattade vidarebefordringar.",
        ),
        "nl": (
            "E-mail - Bezorgstatistieken",
            "Trackingindicatoren: geslaagd, opens, kliks op afmeld- en spiegellink, geschatte doorsturingen.",
        ),
    },
    "email_tracking_by_domain": {
        "en": (
            "Email - Tracking by domain",
            "Every recipient domain: sent, complaints, recipients who opened and clicked, raw reactivity.",
        ),
        "fr": (
            "Email - Indicateurs de tracking par domaine",
            "Chaque domaine destinataire : envoyés, plaintes, destinataires ayant ouvert et cliqué, "
            "réactivité brute.",
        ),
        "sv": (
            "E-post - Spårning per domän",
            "Varje mottagardomän: skickade, klagomål, mottagare som öppnade och klickade, rå reaktivitet.",
        ),
        "nl": (
            "E-mail - Tracking per domein",
            "Elk ontvangersdomein: verzonden, klachten, ontvangers die openden en klikten, ruwe "
            "reactiviteit.",
        ),
    },
    "email_clicks_over_time": {
        "en": ("Email - Clicks over time", "Clicks over time on the five most clicked links."),
        "fr": (
            "Email - Répartition des clics au fil du temps",
            "Clics au fil du temps sur les cinq liens les plus cliqués.",
        ),
        "sv": ("E-post - Klick över tid", "Klick över tid på de fem mest klickade länkarna."),
        "nl": ("E-mail - Kliks in de tijd", "Kliks in de tijd op de vijf meest aangeklikte links."),
    },
    "sms_delivery_summary": {
        "en": (
            "SMS - Delivery summary",
            "Key figures of your SMS: sent, delivered, errors and distinct clicks.",
        ),
        "fr": (
            "SMS - Présentation de la diffusion",
            "Indicateurs clés de votre SMS : envoyés, délivrés, erreurs et clics distincts.",
        ),
        "sv": (
            "SMS - Leveranssammanfattning",
            "Nyckeltal för din sms: skickade, levererade, fel och unika klick.",
        ),
        "nl": (
            "Sms - Bezorgoverzicht",
            "Kerncijfers van uw sms: verzonden, afgeleverd, fouten en unieke kliks.",
        ),
    },
    "sms_target_audience": {
        "en": (
            "SMS - Target audience",
            "Initial audience, messages to deliver and addresses rejected by the rules.",
        ),
        "fr": (
            "SMS - Statistiques initiales d'audience cible",
            "Audience initiale, messages à diffuser et adresses rejetées par les règles.",
        ),
        "sv": (
            "SMS - Målgrupp",
            "Ursprunglig målgrupp, meddelanden att leverera och adresser som avvisats av reglerna.",
        ),
        "nl": (
            "Sms - Doelgroep",
            "Oorspronkelijke doelgroep, te bezorgen berichten en door de regels geweigerde adressen.",
        ),
    },
    "sms_execution_statistics": {
        "en": (
            "SMS - Execution statistics",
            "Successes, errors (with bounces) and new quarantines against the messages to deliver.",
        ),
        "fr": (
            "SMS - Statistiques d'exécution",
            "Succès, erreurs (rebonds compris) et nouvelles quarantaines rapportés aux messages à diffuser.",
        ),
        "sv": (
            "SMS - Körningsstatistik",
            "Lyckade, fel (med studsar) och nya karantäner mot meddelanden att leverera.",
        ),
        "nl": (
            "Sms - Uitvoeringsstatistieken",
            "Geslaagd, fouten (met bounces) en nieuwe quarantaines t.o.v. te bezorgen berichten.",
        ),
    },
    "sms_clickstreams": {
        "en": ("SMS - Clickstreams", "How your recipients clicked: distinct clicks, clicks and reactivity."),
        "fr": (
            "SMS - Flux de clics générés",
            "Comment vos destinataires ont cliqué : clics distincts, clics et réactivité.",
        ),
        "sv": ("SMS - Klickflöden", "Hur dina mottagare klickade: unika klick, klick och reaktivitet."),
        "nl": ("Sms - Klikstromen", "Hoe uw ontvangers klikten: unieke kliks, kliks en reactiviteit."),
    },
    "push_delivery_summary": {
        "en": (
            "Push notification - Delivery summary",
            "Key figures of your push notification: sent, delivered, errors and distinct clicks.",
        ),
        "fr": (
            "Notification push - Présentation de la diffusion",
            "Indicateurs clés de votre notification push : envoyés, délivrés, erreurs et clics distincts.",
        ),
        "sv": (
            "Push-notis - Leveranssammanfattning",
            "Nyckeltal för din push-notis: skickade, levererade, fel och unika klick.",
        ),
        "nl": (
            "Pushmelding - Bezorgoverzicht",
            "Kerncijfers van uw pushmelding: verzonden, afgeleverd, fouten en unieke kliks.",
        ),
    },
    "push_target_audience": {
        "en": (
            "Push notification - Target audience",
            "Initial audience, messages to deliver and addresses rejected by the rules.",
        ),
        "fr": (
            "Notification push - Statistiques initiales d'audience cible",
            "Audience initiale, messages à diffuser et adresses rejetées par les règles.",
        ),
        "sv": (
            "Push-notis - Målgrupp",
            "Ursprunglig målgrupp, meddelanden att leverera och adresser som avvisats av reglerna.",
        ),
        "nl": (
            "Pushmelding - Doelgroep",
            "Oorspronkelijke doelgroep, te bezorgen berichten en door de regels geweigerde adressen.",
        ),
    },
    "push_execution_statistics": {
        "en": (
            "Push notification - Execution statistics",
            "Successes, errors (with bounces) and new quarantines against the messages to deliver.",
        ),
        "fr": (
            "Notification push - Statistiques d'exécution",
            "Succès, erreurs (rebonds compris) et nouvelles quarantaines rapportés aux messages à diffuser.",
        ),
        "sv": (
            "Push-notis - Körningsstatistik",
            "Lyckade, fel (med studsar) och nya karantäner mot meddelanden att leverera.",
        ),
        "nl": (
            "Pushmelding - Uitvoeringsstatistieken",
            "Geslaagd, fouten (met bounces) en nieuwe quarantaines t.o.v. te bezorgen berichten.",
        ),
    },
    "push_clickstreams": {
        "en": (
            "Push notification - Clickstreams",
            "How your recipients clicked: distinct clicks, clicks and reactivity.",
        ),
        "fr": (
            "Notification push - Flux de clics générés",
            "Comment vos destinataires ont cliqué : clics distincts, clics et réactivité.",
        ),
        "sv": (
            "Push-notis - Klickflöden",
            "Hur dina mottagare klickade: unika klick, klick och reaktivitet.",
        ),
        "nl": (
            "Pushmelding - Klikstromen",
            "Hoe uw ontvangers klikten: unieke kliks, kliks en reactiviteit.",
        ),
    },
    "sms_top_links": {
        "en": ("SMS - Top links", "The ten most clicked links of your SMS, with their share of clicks."),
        "fr": (
            "SMS - Liens les plus consultés",
            "Les dix liens les plus cliqués de votre SMS, avec leur part des clics.",
        ),
        "sv": (
            "SMS - Populäraste länkar",
            "De tio mest klickade länkarna i ditt sms, med deras andel av klicken.",
        ),
        "nl": (
            "Sms - Populairste links",
            "De tien meest aangeklikte links van uw sms, met hun aandeel in de kliks.",
        ),
    },
    "email_time_to_engage": {
        "en": (
            "Email - Time to engage",
            "How long after delivery recipients first opened and first clicked: the median and the 90th "
            "percentile.",
        ),
        "fr": (
            "Email - Délai d'engagement",
            "Combien de temps après la délivrance les destinataires ont ouvert et cliqué pour la première "
            "fois : la médiane et le 90e centile.",
        ),
        "sv": (
            "E-post - Tid till engagemang",
            "Hur lång tid efter leveransen mottagarna först öppnade och först klickade: median och 90:e "
            "percentilen.",
        ),
        "nl": (
            "E-mail - Tijd tot betrokkenheid",
            "Hoe lang na aflevering ontvangers voor het eerst openden en klikten: de mediaan en het 90e "
            "percentiel.",
        ),
    },
    "push_time_to_engage": {
        "en": (
            "Push - Time to engage",
            "How long after delivery recipients first opened and first clicked the notification: the "
            "median and the 90th percentile.",
        ),
        "fr": (
            "Push - Délai d'engagement",
            "Combien de temps après la délivrance les destinataires ont ouvert et cliqué la notification "
            "pour la première fois : la médiane et le 90e centile.",
        ),
        "sv": (
            "Push - Tid till engagemang",
            "Hur lång tid efter leveransen mottagarna först öppnade och klickade på notisen: median och "
            "90:e percentilen.",
        ),
        "nl": (
            "Push - Tijd tot betrokkenheid",
            "Hoe lang na aflevering ontvangers de melding voor het eerst openden en aanklikten: de "
            "mediaan en het 90e percentiel.",
        ),
    },
    "experiment_conversions": {
        "en": ("Experiment - Conversions", "Each treatment's converters, conversion rate and revenue."),
        "fr": (
            "Expérience - Conversions",
            "Les convertis, le taux de conversion et le revenu de chaque traitement.",
        ),
        "sv": (
            "Experiment - Konverteringar",
            "Varje behandlings konverterare, konverteringsgrad och intäkt.",
        ),
        "nl": ("Experiment - Conversies", "Converteerders, conversieratio en omzet van elke behandeling."),
    },
    "conversions_summary": {
        "en": (
            "Conversions",
            "Conversions attributed to the campaign, the profiles converting, and revenue.",
        ),
        "fr": (
            "Conversions",
            "Les conversions attribuées à la campagne, les profils convertis et le revenu.",
        ),
        "sv": (
            "Konverteringar",
            "Konverteringar som tillskrivs kampanjen, profiler som konverterade och intäkt.",
        ),
        "nl": ("Conversies", "Conversies toegeschreven aan de campagne, converterende profielen en omzet."),
    },
    "conversions_by_channel": {
        "en": ("Conversions by channel", "Conversions and revenue credited to each channel."),
        "fr": ("Conversions par canal", "Les conversions et le revenu attribués à chaque canal."),
        "sv": ("Konverteringar per kanal", "Konverteringar och intäkt som tillskrivs varje kanal."),
        "nl": ("Conversies per kanaal", "Conversies en omzet toegeschreven aan elk kanaal."),
    },
    "conversions_by_link": {
        "en": (
            "Conversions by link",
            "The ten links credited with the most conversions, with their revenue.",
        ),
        "fr": (
            "Conversions par lien",
            "Les dix liens auxquels le plus de conversions sont attribuées, avec leur revenu.",
        ),
        "sv": (
            "Konverteringar per länk",
            "De tio länkar som tillskrivs flest konverteringar, med deras intäkt.",
        ),
        "nl": ("Conversies per link", "De tien links met de meeste toegeschreven conversies, met hun omzet."),
    },
    "conversions_over_time": {
        "en": ("Conversions over time", "Conversions and converting profiles over time."),
        "fr": ("Conversions dans le temps", "Les conversions et les profils convertis au fil du temps."),
        "sv": ("Konverteringar över tid", "Konverteringar och konverterande profiler över tid."),
        "nl": ("Conversies in de tijd", "Conversies en converterende profielen in de tijd."),
    },
}

# metric id -> (en, fr, sv, nl)
_METRIC_LABELS: dict[str, tuple[str, str, str, str]] = {
    "conversions": ("Conversions", "Conversions", "Konverteringar", "Conversies"),
    "converters": ("Converters", "Convertis", "Konverterare", "Converteerders"),
    "conversion_rate": ("Conversion rate", "Taux de conversion", "Konverteringsgrad", "Conversieratio"),
    "revenue": ("Revenue", "Revenu", "Intäkt", "Omzet"),
    "time_to_open_median": (
        "Median time to open",
        "Délai médian d'ouverture",
        "Mediantid till öppning",
        "Mediane tijd tot openen",
    ),
    "time_to_open_p90": (
        "Time to open, 90th percentile",
        "Délai d'ouverture, 90e centile",
        "Tid till öppning, 90:e percentilen",
        "Tijd tot openen, 90e percentiel",
    ),
    "time_to_click_median": (
        "Median time to click",
        "Délai médian de clic",
        "Mediantid till klick",
        "Mediane tijd tot klikken",
    ),
    "time_to_click_p90": (
        "Time to click, 90th percentile",
        "Délai de clic, 90e centile",
        "Tid till klick, 90:e percentilen",
        "Tijd tot klikken, 90e percentiel",
    ),
    "entered_profiles": ("Entered profiles", "Profils entrés", "Inkomna profiler", "Binnengekomen profielen"),
    "targeted": ("Targeted", "Audience initiale", "Målgrupp", "Getarget"),
    "excluded": ("Excluded", "Rejetés par les règles", "Uteslutna", "Uitgesloten"),
    "to_deliver": ("To deliver", "Message à diffuser", "Att leverera", "Te bezorgen"),
    "sent": ("Sent", "Total envoyé", "Skickade", "Verzonden"),
    "delivered": ("Delivered", "Délivrés", "Levererade", "Afgeleverd"),
    "bounces": ("Bounces", "Rebonds", "Studsar", "Bounces"),
    "errors": ("Errors", "Erreurs", "Fel", "Fouten"),
    "new_quarantines": ("New quarantines", "Nouvelles quarantaines", "Nya karantäner", "Nieuwe quarantaines"),
    "opens": ("Opens", "Ouvertures", "Öppningar", "Opens"),
    "distinct_opens": ("Distinct opens", "Ouvertures distinctes", "Unika öppningar", "Unieke opens"),
    "clicks": ("Clicks", "Clics", "Klick", "Kliks"),
    "distinct_clicks": ("Distinct clicks", "Clics distincts", "Unika klick", "Unieke kliks"),
    "machine_opens": ("Machine opens", "Ouvertures automatiques", "Maskinöppningar", "Machine-opens"),
    "machine_clicks": ("Machine clicks", "Clics automatiques", "Maskinklick", "Machinekliks"),
    "unsubscribes": ("Unsubscribes", "Désabonnements", "Avregistreringar", "Afmeldingen"),
    "spam_complaints": ("Spam complaints", "Plaintes", "Skräppostklagomål", "Spamklachten"),
    "mirror_page_views": ("Mirror page", "Page miroir", "Spegelsida", "Spiegelpagina"),
    "forwards": ("Forwards", "Estimation des transferts", "Vidarebefordringar", "Doorsturingen"),
    "actions": ("Actions", "Actions", "Åtgärder", "Acties"),
    "engagements": ("Engagements", "Engagements", "Engagemang", "Betrokkenheid"),
    "impressions": ("Impressions", "Impressions", "Visningar", "Vertoningen"),
    "mail_sent": ("Mail sent", "Courriers envoyés", "Skickade brev", "Verzonden post"),
    "reached": ("Reached", "Atteints", "Nådda", "Bereikt"),
    "unique_impressions": (
        "Unique impressions",
        "Impressions uniques",
        "Unika visningar",
        "Unieke vertoningen",
    ),
    "interactions": ("Interactions", "Interactions", "Interaktioner", "Interacties"),
    "distinct_profiles": ("Distinct profiles", "Profils distincts", "Unika profiler", "Unieke profielen"),
    "open_rate": ("Open rate", "Taux d'ouverture", "Öppningsgrad", "Openratio"),
    "click_rate": ("Click rate", "Taux de clic", "Klickfrekvens", "Klikratio"),
    "reactivity": ("Reactivity", "Réactivité", "Reaktivitet", "Reactiviteit"),
    "delivered_rate": ("Delivery rate", "Taux de délivrabilité", "Leveransgrad", "Afleveringsratio"),
    "bounce_rate": ("Bounce rate", "Taux de rebond", "Studsfrekvens", "Bounceratio"),
    "error_rate": ("Error rate", "Taux d'erreur", "Felfrekvens", "Foutratio"),
    "quarantine_rate": ("Quarantine rate", "Taux de quarantaine", "Karantänfrekvens", "Quarantaineratio"),
    "unsubscribe_rate": ("Unsubscribe rate", "Taux de désabonnement", "Avregistreringsgrad", "Afmeldratio"),
    "complaint_rate": ("Complaint rate", "Taux de plaintes", "Klagomålsfrekvens", "Klachtenratio"),
    "share": ("Share of clicks", "Pourcentage", "Andel av klick", "Aandeel van kliks"),
    "failures": ("Errors", "Erreurs", "Fel", "Fouten"),
    "execution_errors": ("Errors", "Erreurs", "Fel", "Fouten"),
    "successes": ("Success", "Succès", "Lyckade", "Geslaagd"),
    "delivered_reactivity": ("Reactivity", "Réactivité", "Reaktivitet", "Reactiviteit"),
    "open_rate_lift": (
        "Open rate lift",
        "Progression du taux d'ouverture",
        "Lyft i öppningsgrad",
        "Lift openratio",
    ),
    "click_rate_lift": (
        "Click rate lift",
        "Progression du taux de clic",
        "Lyft i klickfrekvens",
        "Lift klikratio",
    ),
    "open_rate_p_value": (
        "Open rate p-value",
        "Valeur p du taux d'ouverture",
        "p-värde öppningsgrad",
        "p-waarde openratio",
    ),
    "click_rate_p_value": (
        "Click rate p-value",
        "Valeur p du taux de clic",
        "p-värde klickfrekvens",
        "p-waarde klikratio",
    ),
    "significant": ("Significant", "Significatif", "Signifikant", "Significant"),
    "winner": ("Winner", "Gagnant", "Vinnare", "Winnaar"),
}

_METRIC_LABELS |= {f"failures_{kind}": labels for kind, (labels, _) in ERROR_TYPE_TEXT.items()}

# (widget id, metric id) -> (en, fr, sv, nl): where the report names a metric otherwise in one
# widget (the tracking indicators call unsubscribes "opt-out link clicks").
_WIDGET_METRIC_LABELS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("email_reaction_statistics", "forwards"): (
        "Forwards",
        "Transférer",
        "Vidarebefordringar",
        "Doorsturingen",
    ),
    ("email_reaction_statistics", "mirror_page_views"): (
        "Mirror page",
        "Page miroir",
        "Spegelsida",
        "Spiegelpagina",
    ),
    ("email_tracking_indicators", "unsubscribes"): (
        "Opt-out link clicks",
        "Clics sur le lien d'exclusion",
        "Klick på avregistreringslänken",
        "Kliks op de afmeldlink",
    ),
    ("email_tracking_indicators", "mirror_page_views"): (
        "Mirror link clicks",
        "Clics sur le lien miroir",
        "Klick på spegellänken",
        "Kliks op de spiegellink",
    ),
    ("email_tracking_indicators", "forwards"): (
        "Estimated forwards",
        "Estimation des transferts",
        "Uppskattade vidarebefordringar",
        "Geschatte doorsturingen",
    ),
    ("email_tracking_by_domain", "sent"): ("Sent", "Envoyé", "Skickade", "Verzonden"),
    ("email_tracking_by_domain", "distinct_opens"): ("Opens", "Ouvertures", "Öppningar", "Opens"),
    ("email_tracking_by_domain", "distinct_clicks"): ("Clicks", "Clics", "Klick", "Kliks"),
    ("email_tracking_by_domain", "reactivity"): (
        "Raw reactivity",
        "Réactivité brute",
        "Rå reaktivitet",
        "Ruwe reactiviteit",
    ),
}

# (dimension, key) -> (en, fr, sv, nl): fixed breakdown keys; other keys are shown as sent.
_KEY_LABELS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("bounce_category", "hard"): ("Hard bounce", "Rebond définitif", "Hård studs", "Harde bounce"),
    ("bounce_category", "soft"): ("Soft bounce", "Rebond temporaire", "Mjuk studs", "Zachte bounce"),
    ("bounce_category", "ignored"): ("Ignored", "Ignoré", "Ignorerad", "Genegeerd"),
    ("channel", "email"): ("Email", "Email", "E-post", "E-mail"),
    ("channel", "sms"): ("SMS", "SMS", "SMS", "Sms"),
    ("channel", "push"): ("Push", "Push", "Push", "Push"),
    ("channel", "in_app"): ("In-app", "In-app", "In-app", "In-app"),
    ("channel", "web"): ("Web", "Web", "Webb", "Web"),
    ("channel", "direct_mail"): ("Direct mail", "Courrier", "Direktreklam", "Direct mail"),
    ("platform", "ios"): ("iOS", "iOS", "iOS", "iOS"),
    ("platform", "android"): ("Android", "Android", "Android", "Android"),
    ("platform", "web"): ("Web", "Web", "Webb", "Web"),
    **{("error_type", kind): labels for kind, (labels, _) in ERROR_TYPE_TEXT.items()},
}


def widget_text(widget_id: str, locale: str) -> tuple[str, str]:
    return WIDGET_TEXT[widget_id][resolve_locale(locale)]


def metric_label(metric_id: str, locale: str, widget_id: str = "") -> str:
    """A metric's label, as the widget `widget_id` names it when it names it otherwise."""
    labels = _WIDGET_METRIC_LABELS.get((widget_id, metric_id)) or _METRIC_LABELS[metric_id]
    return labels[LOCALES.index(resolve_locale(locale))]


def metric_definition(metric_id: str, locale: str) -> str:
    """What the metric counts, and against what its rate is taken."""
    return DEFINITIONS[metric_id][LOCALES.index(resolve_locale(locale))]


def key_label(dimension: str, key: str, locale: str) -> str:
    labels = _KEY_LABELS.get((dimension, key))
    return labels[LOCALES.index(resolve_locale(locale))] if labels else key


def missing_texts(widget_ids: list[str], metric_ids: list[str]) -> list[str]:
    """What the tables lack (checked by the tests): every widget and metric in every locale."""
    missing = [
        f"{w}/{locale}"
        for w in widget_ids
        for locale in LOCALES
        if not all(WIDGET_TEXT.get(w, {}).get(locale, ("", "")))
    ]
    missing += [m for m in metric_ids if m not in _METRIC_LABELS]
    missing += [f"{m}/definition" for m in metric_ids if not all(DEFINITIONS.get(m, ("",)))]
    return missing + [f"{w}/{m}" for w, m in _WIDGET_METRIC_LABELS if w not in widget_ids]
